"""A payment as the API shows it, built by hand: the same JSON as flows.api.PaymentSerializer
(a test holds them equal), at a tenth of its cost. The payment calls answer with it on the hot
path; lists and other views may keep the serializer."""

from __future__ import annotations

from datetime import datetime

from payments.flows.models import Payment, PaymentMethod
from payments.flows.pages import bank_received_minor, next_action_for


def _datetime(value: datetime | None) -> str | None:
    # DRF's ISO 8601 output: UTC as "Z".
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def payment_json(payment: Payment, *, viewer_id=None) -> dict:
    """`payment.order` must be loaded (its number is shown). `viewer_id`: the caller's user id;
    only the order's buyer gets `next_action` (its links carry a capability for the buyer's
    pages)."""
    card = payment.details.get("card") if payment.details else None
    bank_transfer = None
    if payment.method == PaymentMethod.BANK_TRANSFER:
        received = bank_received_minor(payment)
        bank_transfer = {
            "reference": payment.bank_reference,
            "received_minor": received,
            "remaining_minor": max(payment.amount_minor - received, 0),
        }
    order = payment.order
    return {
        "id": str(payment.id),
        "order": str(payment.order_id),
        "order_number": order.number,
        "method": payment.method,
        "provider": payment.provider,
        "status": payment.status,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "captured_minor": payment.captured_minor,
        "failure_code": payment.failure_code,
        "failure_message": payment.failure_message,
        "card": {key: card[key] for key in ("brand", "last4", "exp_month", "exp_year")}
        if card
        else None,
        "wallet": payment.provider if payment.method == PaymentMethod.WALLET else None,
        "bank_transfer": bank_transfer,
        "expires_at": _datetime(payment.expires_at),
        "next_action": next_action_for(payment)
        if viewer_id is not None and order.buyer_id == viewer_id
        else None,
        "created_at": _datetime(payment.created_at),
        "updated_at": _datetime(payment.updated_at),
    }
