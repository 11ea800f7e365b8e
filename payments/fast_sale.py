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

import logging
import uuid
from typing import Any

from payments.fast_authorize import CardStart, _hold_requests, _load, call_paid, mark_paid
from payments.fast_capture import capture_requests
from payments.models import Payment, PaymentMethod, PaymentStatus

logger = logging.getLogger(__name__)

_SALE_SQL = (
    "SELECT * FROM payments_card_sale(%s::uuid, %s::text, %s::text, %s::bigint, %s::text, "
    "%s::text, %s::text, %s::jsonb, %s::text, %s::jsonb, %s::jsonb, %s::uuid, %s::timestamptz, "
    "%s::timestamptz, %s::text, %s::bigint)"
)


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
    if holds is None:
        return None
    posts = capture_requests(payment, [(sub[0], sub[2]) for sub in context.sub_orders])
    called = call_paid(
        _SALE_SQL,
        context,
        actor=actor,
        reason=reason,
        data=data,
        reference=reference,
        batch=holds + posts,
        batch_id=uuid.uuid4(),  # one linked batch: the holds and their posts
        extra=(captured_minor,),
    )
    if called is None:
        return None
    (outcome, detail, total, updated_at, event_ids), now = called
    if outcome == "already":
        return Payment.objects.select_related("order").filter(pk=payment_id).first()
    if outcome != "ok":
        logger.info("payment %s: fast sale declined (%s)", payment_id, detail)
        return None
    mark_paid(payment, reference=reference, now=now, event_ids=event_ids)
    payment.status = PaymentStatus.CAPTURED
    payment.captured_minor = total
    payment.updated_at = updated_at
    return payment
