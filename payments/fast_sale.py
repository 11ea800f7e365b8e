"""The card "sale" fast path on PostgreSQL (payments/sql/payments_sale_v1.sql).

An automatic-capture card payment whose processor authorises and captures in one call (a sale,
ProviderFeatures.captures_with_authorize) has its answer applied by one call of
payments_card_sale(): what payment_transition(-> authorized) and then (-> captured) do in one
transaction (payment_flows._apply_sale, the reference), with one ledger batch (holds, then their
posts) and one dispatch of all its order events after commit.

apply_sale returns None when the function declined ("fallback", nothing written) or the ledger
refused: the caller then runs the Python path, which raises what it raises.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from ledger.errors import LedgerError
from ledger.fastpath import REFUSAL_SQLSTATE
from ledger.requests import validate_request
from ledger.services import account_id
from payments import conf
from payments.fast_authorize import CardStart, _call, _hold_requests, _load, _sqlstate
from payments.models import OrderStatus, Payment, PaymentMethod, PaymentStatus, SubOrder
from payments.payment_ledger import ESCROW, _close_hold, external_code, hold_transfer_id
from payments.state import IllegalTransition

logger = logging.getLogger(__name__)

_SALE_SQL = (
    "SELECT * FROM payments_card_sale(%s::uuid, %s::text, %s::text, %s::bigint, %s::text, "
    "%s::text, %s::text, %s::jsonb, %s::text, %s::jsonb, %s::jsonb, %s::uuid, %s::timestamptz, "
    "%s::timestamptz, %s::text, %s::bigint)"
)


def _post_requests(payment: Payment, sub_orders) -> list[dict] | None:
    """ledger_capture_holds' requests for a full capture (same ids, accounts, reason, reference,
    metadata), checked by the ledger's own validation; None if one fails it."""
    accounts = (
        account_id(currency=payment.currency, code=external_code(payment.provider)),
        account_id(currency=payment.currency, code=ESCROW),
    )
    try:
        return [
            validate_request(
                _close_hold(
                    payment,
                    SubOrder(id=sub_id, amount_minor=amount),
                    capture_minor=amount,
                    void_reason="payment_capture_released",
                    accounts=accounts,
                )
            ).as_json()
            for sub_id, _seller, amount, _currency in sub_orders
        ]
    except LedgerError:
        return None


def apply_sale(
    *,
    payment_id: Any,
    reference: str,
    actor: str,
    reason: str,
    data: dict,
    captured_minor: int,
    started: CardStart | None = None,
) -> Payment | None:
    """authorized then captured in one statement (`captured_minor`: the processor's answer, for
    the capture's PaymentEvent). Returns the payment, or None when the function declined or the
    ledger refused (nothing written: run the Python path). A replay (already captured) returns
    the payment quietly; a payment that cannot become authorized raises IllegalTransition, as
    payment_transition does."""
    context = started or _load(payment_id)
    if context is None:
        return None
    payment = context.payment
    if payment.method != PaymentMethod.CARD or not context.sub_orders:
        return None
    holds = _hold_requests(payment, context.sub_orders)
    posts = _post_requests(payment, context.sub_orders) if holds is not None else None
    if posts is None:
        return None
    now = timezone.now()
    accept_by = now + conf.acceptance_window()
    sub_orders = [
        [sub_id, seller, amount, str(hold_transfer_id(payment.id, sub_id))]
        for sub_id, seller, amount, _currency in context.sub_orders
    ]
    try:
        rows = _call(
            _SALE_SQL,
            [
                payment.id,
                payment.method,
                payment.provider,
                payment.amount_minor,
                payment.currency,
                actor,
                reason,
                json.dumps(data),
                reference,
                json.dumps(sub_orders),
                json.dumps(holds + posts, separators=(",", ":")),
                uuid.uuid4(),  # one linked batch: the holds and their posts
                now,
                accept_by,
                accept_by.isoformat(),
                captured_minor,
            ],
        )
    except DatabaseError as exc:
        if _sqlstate(exc) != REFUSAL_SQLSTATE:
            raise
        return None  # the ledger refused: the Python path raises its BatchFailed
    outcome, detail, total, updated_at, event_ids = rows[0]
    if outcome == "already":
        return Payment.objects.select_related("order").filter(pk=payment_id).first()
    if outcome == "illegal":
        raise IllegalTransition(
            f"A payment that is {detail} cannot become {PaymentStatus.AUTHORIZED}.",
            extra={"from": detail, "to": PaymentStatus.AUTHORIZED},
        )
    if outcome != "ok":
        logger.info("payment %s: fast sale declined (%s)", payment_id, detail)
        return None

    from payments.order_events import dispatch_after_commit

    dispatch_after_commit(list(event_ids))
    payment.status = PaymentStatus.CAPTURED
    payment.provider_reference = reference
    payment.captured_minor = total
    payment.updated_at = updated_at
    order = payment.order
    order.status = OrderStatus.PAID
    order.payment_failure_reason = ""
    order.updated_at = now
    return payment
