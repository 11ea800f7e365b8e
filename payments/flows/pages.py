"""Links to the payment pages (3-D Secure, wallet, bank transfer) and what the buyer must do next.

Guests have no login and the wallet app has none: a page link carries a capability for its
payment (a signature of the payment id).
"""

from __future__ import annotations

from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from payments.flows.models import Payment, PaymentMethod, PaymentStatus
from payments.providers import bank_transfer as bank_provider_module

S = PaymentStatus


_PAGE_SALT = "clearhouse.payments.page"


def page_token(payment_id) -> str:
    """A capability for this payment's pages (guests have no login; the wallet app has none)."""
    return signing.Signer(salt=_PAGE_SALT).signature(str(payment_id))


def page_token_valid(payment_id, token: str) -> bool:
    return bool(token) and constant_time_compare(token, page_token(payment_id))


def _page_url(name: str, payment: Payment) -> str:
    return f"{reverse(name, args=[payment.id])}?t={page_token(payment.id)}"


def three_ds_url(payment: Payment) -> str:
    return _page_url("pay:three_ds", payment)


def wallet_url(payment: Payment) -> str:
    return _page_url("pay:wallet", payment)


def wallet_approve_url(payment: Payment) -> str:
    return _page_url("pay:wallet_approve", payment)


def bank_url(payment: Payment) -> str:
    return _page_url("pay:bank", payment)


def bank_received_minor(payment: Payment) -> int:
    return sum(payment.bank_arrivals.values_list("amount_minor", flat=True))


def next_action_for(payment: Payment) -> dict | None:
    """What the buyer must do next, or None when the payment needs nothing from them."""
    if payment.status == S.REQUIRES_ACTION and payment.method == PaymentMethod.CARD:
        return {"type": "redirect", "url": three_ds_url(payment)}
    if payment.status == S.REQUIRES_ACTION and payment.method == PaymentMethod.WALLET:
        return {"type": "wallet", "url": wallet_url(payment), "wallet": payment.provider}
    if payment.status == S.AWAITING_TRANSFER:
        received = min(bank_received_minor(payment), payment.amount_minor)
        return {
            "type": "bank_transfer",
            "url": bank_url(payment),
            "reference": payment.bank_reference,
            **bank_provider_module.account_details(),
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "received_minor": received,
            "remaining_minor": payment.amount_minor - received,
            "expires_at": payment.expires_at.isoformat() if payment.expires_at else None,
        }
    return None
