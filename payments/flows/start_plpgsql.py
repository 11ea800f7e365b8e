"""A card payment's start on PostgreSQL: one statement, payments_start()
(payments/flows/payments_start_v2.sql): lock the order, check it, write the vaulted card, the
Payment and its "created" event (payments.flows.start's transaction, and the API's order lookup
folded in). Python seals the card first and turns the function's refusals into the errors the
rules raise; the provider is called afterwards with no transaction or lock held.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from core.errors import Conflict, NotFound
from payments.flows.models import Payment, PaymentStatus
from payments.flows.plpgsql import as_json, call, persisted
from payments.flows.transitions import ACTIVE
from payments.orders.models import Order, OrderStatus
from payments.vault.cards import CardInput
from payments.vault.services import vault_log_stored, vault_seal_card

_START_SQL = (
    "SELECT * FROM payments_start(%s::uuid, %s::boolean, %s::bigint, %s::text[], %s::uuid, "
    "%s::text, %s::text, %s::text, %s::jsonb, %s::text, %s::uuid, %s::text, %s::text, %s::text, "
    "%s::integer, %s::integer, %s::text, %s::bytea, %s::bytea, %s::timestamptz)"
)

_ACTIVE = sorted(ACTIVE)

_ORDER_FIELDS = ("id", "number", "buyer_id", "currency", "total_minor", "status", "metadata")


@dataclass(frozen=True)
class Started:
    """A started payment (rows written, provider not yet called) and what its authorisation
    needs: the order's sub-orders as (id, seller_id, amount_minor, currency), by id."""

    payment: Payment
    sub_orders: tuple[tuple[int, int, int, str], ...]


def start_payment(
    *,
    order_id: Any,
    method: str,
    provider: str,
    actor: str,
    return_url: str,
    card: CardInput | None = None,
    wallet: str | None = None,
    bank_reference: str | None = None,
    buyer_id: int | None = None,
    check_buyer: bool = False,
    capture_method: str = "manual",
    request_key: str = "",
) -> Started:
    """payment_start's writes, in one statement (payments_start): the order locked and checked,
    the vaulted card (`card`, sealed here), the Payment and its "created" event. With check_buyer
    the order must be buyer_id's (the API's lookup: anyone else's order is "not found", field
    "order")."""
    order_id = order_id if isinstance(order_id, uuid.UUID) else uuid.UUID(str(order_id))
    sealed = vault_seal_card(card=card) if card is not None else None
    payment_id = uuid.uuid4()
    details: dict = {"return_url": return_url}
    if sealed is not None:
        details["card"] = {
            "token": sealed.token,
            "brand": sealed.brand,
            "last4": sealed.last4,
            "exp_month": sealed.exp_month,
            "exp_year": sealed.exp_year,
        }
    if wallet is not None:
        details["wallet"] = wallet
    if capture_method == "automatic":
        details["capture_method"] = capture_method
    if request_key:
        # The Idempotency-Key's scope: a retry of this request finds this payment by it.
        details["request_key"] = request_key
    now = timezone.now()
    rows = call(
        _START_SQL,
        [
            order_id,
            check_buyer,
            buyer_id,
            _ACTIVE,
            payment_id,
            method,
            provider,
            actor,
            json.dumps(details),
            bank_reference,
            *(
                (
                    sealed.id,
                    sealed.token,
                    sealed.brand,
                    sealed.last4,
                    sealed.exp_month,
                    sealed.exp_year,
                    sealed.key_id,
                    sealed.wrapped_key,
                    sealed.ciphertext,
                )
                if sealed is not None
                else (None,) * 9
            ),
            now,
        ],
    )
    outcome, detail, number, buyer, currency, total_minor, metadata, sub_orders = rows[0]
    if outcome == "order_not_found":
        raise NotFound(
            "No such order.", code="order_not_found", field="order" if check_buyer else None
        )
    if outcome == "order_not_payable":
        label = dict(OrderStatus.choices).get(detail, detail)  # as get_status_display()
        raise Conflict(
            f"This order cannot be paid now (it is {str(label).lower()}).",
            code="order_not_payable",
        )
    if outcome == "payment_in_progress":
        raise Conflict(
            "A payment for this order is already in progress.",
            code="payment_in_progress",
            extra={"payment_id": detail},
        )
    assert outcome == "ok", outcome
    vaulted = None
    if sealed is not None:
        vault_log_stored(sealed)
        vaulted = persisted(sealed.row(owner_id=buyer))
        vaulted.created_at = now

    # The rows as written, without reading them back; the order's other fields load on access.
    known = dict(
        zip(
            _ORDER_FIELDS,
            (
                order_id,
                number,
                buyer,
                currency,
                total_minor,
                OrderStatus.AWAITING_PAYMENT,
                as_json(metadata),
            ),
            strict=True,
        )
    )
    names = [f.attname for f in Order._meta.concrete_fields if f.attname in known]
    order = Order.from_db(DEFAULT_DB_ALIAS, names, [known[name] for name in names])
    payment = persisted(
        Payment(
            id=payment_id,
            order=order,
            method=method,
            provider=provider,
            status=PaymentStatus.CREATED,
            amount_minor=total_minor,
            currency=currency,
            provider_reference="",
            failure_code="",
            failure_message="",
            created_at=now,
            updated_at=now,
            details=details,
            vaulted_card=vaulted,
            bank_reference=bank_reference,
            expires_at=None,
            captured_minor=0,
            provider_attempts=1,
        )
    )
    return Started(
        payment=payment,
        sub_orders=tuple(
            (int(sub_id), int(seller_id), int(amount), str(sub_currency))
            for sub_id, seller_id, amount, sub_currency in as_json(sub_orders)
        ),
    )
