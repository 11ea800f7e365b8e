"""Refunds: full or partial, several per sub-order, never more than was captured in total.

Three steps, so that the provider is never called while a row lock is held:

1. `refund_create` (one transaction): lock the Payment, then the SubOrder; check that the
   non-failed refunds plus this one stay within SubOrder.captured_minor; write a pending Refund
   (the reservation) and a pending ledger transfer from where the money is now to
   external:<provider>; record refund.created; on commit enqueue `payments.refund_execute`.
2. `refund_process` (the task, no lock): ask the provider to refund, idempotency key
   "refund:<id>" (a retry gets the first answer, never a second refund).
3. `refund_mark_succeeded` / `refund_mark_failed` (one transaction each): post the ledger
   transfer, or void it (the reservation is released and the amount may be refunded again).
   A sub-order whose whole captured amount has been refunded becomes "refunded".

Where the money comes from (RefundSource): before release, escrow; after release, the seller's
pending balance, which may go negative (the shortfall is recovered from the seller's later
settlements). The platform keeps its fee on a refund after release, as Stripe does by default.
A hold never captured is not refunded but released, at the provider and in the ledger together
(payments.flows.sub_order_money.sub_order_release). A part whose seller declined but which was
captured all the same (the capture won a race with the release) is refunded by
`refund_declined_captured_due` (the payments.settle_sub_order_holds sweep).

A refund left pending (a lost task message, a provider that stayed down) is re-driven by the
beat sweeper `payments.refunds_sweep`.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce

from core.errors import Conflict, NotFound, ValidationError
from core.integers import MAX_JSON_INTEGER, json_integer
from ledger import chart
from ledger.services import TransferRequest, create_transfers
from payments.flows.models import Payment
from payments.flows.sub_order_money import RELEASED_STATES
from payments.fulfilment.confirmation import lock_order_payment
from payments.fulfilment.models import Refund, RefundSource, RefundStatus
from payments.orders.events import REFUND_CREATED, record_order_event
from payments.orders.models import SubOrder, SubOrderStatus
from payments.orders.sub_order_state import lock_sub_order

logger = logging.getLogger(__name__)
SO = SubOrderStatus
MAX_REASON = 255
# No refund from a sub-order that never held money or whose money is all back.
_NOT_REFUNDABLE = frozenset({SO.AWAITING_PAYMENT, SO.CANCELLED, SO.REFUNDED})


class RefundExceedsCaptured(ValidationError):
    """The refund is more than what is left to refund."""

    code = "refund_exceeds_captured"


def refund_transfer_id(refund_id: Any, step: str) -> uuid.UUID:
    return uuid.uuid5(chart.REFUND_TRANSFERS, f"refund:{refund_id}:{step}")


def refunded_minor(sub_order: SubOrder, *, statuses: tuple[str, ...]) -> int:
    total = (
        Refund.objects.filter(sub_order=sub_order, status__in=statuses)
        .exclude(source=RefundSource.HOLD_RELEASE)
        .aggregate(total=Sum("amount_minor"))["total"]
    )
    return int(total or 0)


def refundable_minor(sub_order: SubOrder) -> int:
    """Captured minus every refund not failed (pending ones are reserved)."""
    reserved = refunded_minor(sub_order, statuses=(RefundStatus.PENDING, RefundStatus.SUCCEEDED))
    return max(sub_order.captured_minor - reserved, 0)


def _check_amount(amount_minor: Any) -> int:
    return json_integer(
        amount_minor,
        field="amount_minor",
        minimum=1,
        maximum=MAX_JSON_INTEGER,
        message="The amount is a whole number of minor units above zero.",
        too_small="The amount is a whole number of minor units above zero.",
    )


def _check_reason(reason: Any) -> str:
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationError("Say why you refund.", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"At most {MAX_REASON} characters.", field="reason")
    return reason


def _source_account_id(refund_source: str, sub_order: SubOrder) -> int:
    # After release the money is the seller's: a refund takes it from the seller's available
    # balance, which may go below zero (the next settlements recover it first); the released net
    # itself may still be waiting in pending for its hold.
    code = (
        chart.ESCROW
        if refund_source == RefundSource.ESCROW
        else chart.seller_available(sub_order.seller_id)
    )
    return chart.account(currency=sub_order.currency, code=code)


def refund_transfer(
    refund: Refund, sub_order: SubOrder, payment: Payment, *, step: str, kind: str, reason: str
) -> TransferRequest:
    """The refund's ledger step: reserve (pending), then post or void that pending transfer."""
    return TransferRequest(
        id=refund_transfer_id(refund.pk, step),
        debit_account_id=_source_account_id(refund.source, sub_order),
        credit_account_id=chart.account(
            currency=refund.currency, code=chart.external(payment.provider)
        ),
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        reason=reason,
        kind=kind,
        pending_id=None if kind == "pending" else refund_transfer_id(refund.pk, "reserve"),
        reference=f"refund:{refund.pk}",
        metadata={"order": str(sub_order.order_id), "sub_order": sub_order.pk},
    )


def _enqueue(refund_id: Any) -> None:
    # tasks.py imports this module: the task is looked up when it is enqueued.
    from payments.fulfilment.tasks import refund_execute

    refund_id = str(refund_id)
    transaction.on_commit(lambda: refund_execute.delay(refund_id))


def event_data(refund: Refund, **extra: Any) -> dict:
    return {
        "refund": str(refund.pk),
        "sub_order": refund.sub_order_id,
        "amount_minor": refund.amount_minor,
        "currency": refund.currency,
        "source": refund.source,
        "status": refund.status,
        "reason": refund.reason,
        **extra,
    }


def _reserve(
    *,
    payment: Payment,
    sub_order: SubOrder,
    amount_minor: int,
    reason: str,
    actor: str,
    idempotency_key: str | None,
) -> Refund:
    """Under the Payment and SubOrder locks: write the pending Refund and its pending transfer."""
    source = RefundSource.SELLER_BALANCE if sub_order.confirmed_at else RefundSource.ESCROW
    refund = Refund.objects.create(
        payment=payment,
        sub_order=sub_order,
        amount_minor=amount_minor,
        currency=sub_order.currency,
        source=source,
        reason=reason,
        actor=actor[:64],
        idempotency_key=idempotency_key,
    )
    create_transfers(
        [
            refund_transfer(
                refund, sub_order, payment, step="reserve", kind="pending", reason="refund_reserved"
            )
        ]
    )
    record_order_event(
        order=sub_order.order,
        sub_order=sub_order,
        kind=REFUND_CREATED,
        actor=actor,
        data=event_data(refund),
    )
    _enqueue(refund.pk)
    return refund


def _caller_scoped_key(actor: str, idempotency_key: str) -> str:
    """The stored key: a digest of the caller and the key (fixed length, so a long key is never
    cut into another's)."""
    digest = hashlib.sha256(f"{actor}\n{idempotency_key}".encode()).hexdigest()
    return f"sha256:{digest}"


def refund_create(
    *,
    sub_order_id: Any,
    amount_minor: int,
    reason: str,
    actor: str,
    idempotency_key: str | None = None,
) -> Refund:
    """Refund `amount_minor` of a sub-order's captured money (pending until the provider says
    so). The same idempotency_key from the same actor for the same payment answers with the first
    refund; another actor's key is another key (staff and the seller never share one)."""
    amount_minor = _check_amount(amount_minor)
    reason = _check_reason(reason)
    if idempotency_key is not None:
        if not 0 < len(str(idempotency_key)) <= 255:
            raise ValidationError(
                "The idempotency key is 1 to 255 characters.", field="idempotency_key"
            )
        idempotency_key = _caller_scoped_key(actor, str(idempotency_key))
    row = SubOrder.objects.filter(pk=sub_order_id).values("order_id").first()
    if row is None:
        raise NotFound("No such order.", code="order_not_found")
    with transaction.atomic():
        # A payment of several sellers stays authorised while some sellers have yet to accept;
        # each accepted seller's part is captured on its own (SubOrder.captured_minor).
        payment = lock_order_payment(row["order_id"])
        if payment is None:
            raise Conflict("Nothing has been captured for this order.", code="nothing_captured")
        if idempotency_key is not None:
            existing = Refund.objects.filter(
                payment=payment, idempotency_key=idempotency_key
            ).first()
            if existing is not None:
                if (
                    existing.sub_order_id != int(sub_order_id)
                    or existing.amount_minor != amount_minor
                ):
                    raise Conflict(
                        "This idempotency key was used for another refund.",
                        code="idempotency_key_reused",
                    )
                return existing
        sub_order = lock_sub_order(sub_order_id)
        if sub_order.captured_minor <= 0:
            raise Conflict("Nothing has been captured for this order.", code="nothing_captured")
        if sub_order.status in _NOT_REFUNDABLE:
            raise Conflict(
                f"An order that is {sub_order.get_status_display().lower()} cannot be refunded.",
                code="not_refundable",
            )
        remaining = refundable_minor(sub_order)
        if amount_minor > remaining:
            raise RefundExceedsCaptured(
                f"At most {remaining} minor units are left to refund.",
                field="amount_minor",
                extra={"refundable_minor": remaining},
            )
        try:
            with transaction.atomic():
                return _reserve(
                    payment=payment,
                    sub_order=sub_order,
                    amount_minor=amount_minor,
                    reason=reason,
                    actor=actor,
                    idempotency_key=idempotency_key,
                )
        except IntegrityError:
            # Cannot happen under the Payment lock; kept so a schema change fails cleanly.
            raise Conflict("This refund was made already.", code="refund_exists") from None


def refund_sub_order_remaining(*, sub_order_id: Any, reason: str, actor: str) -> Refund | None:
    """Refund whatever is left of a sub-order's captured money (None when nothing is left). A
    hold never captured is not refunded here: it is released at the provider and in the ledger
    together (payments.flows.sub_order_money.sub_order_release, after the decision commits).
    Used on rejection, lapse, disputes, and for a declined part captured all the same."""
    reason = _check_reason(reason)
    row = SubOrder.objects.filter(pk=sub_order_id).values("order_id").first()
    if row is None:
        raise NotFound("No such order.", code="order_not_found")
    with transaction.atomic():
        payment = lock_order_payment(row["order_id"])
        if payment is None:
            return None
        sub_order = lock_sub_order(sub_order_id)
        if sub_order.captured_minor == 0:
            return None
        remaining = refundable_minor(sub_order)
        if remaining <= 0:
            return None
        return _reserve(
            payment=payment,
            sub_order=sub_order,
            amount_minor=remaining,
            reason=reason,
            actor=actor,
            idempotency_key=None,
        )


def refund_declined_captured_due(*, limit: int = 200, sub_order_ids=None) -> int:
    """Sweep: give back a part captured although its seller declined it (rejected, lapsed,
    cancelled, or a dispute resolved for the buyer before the capture): a capture that won a
    race with the release at the provider. Bounded per run; one bad row does not stop the
    others. Returns how many refunds were made.

    Due: some of the captured money is neither refunded nor being refunded. A refund the
    provider failed leaves its amount due again (it went back to escrow), so it is made again."""
    kept = Coalesce(
        Sum(
            "refunds__amount_minor",
            filter=Q(refunds__status__in=[RefundStatus.PENDING, RefundStatus.SUCCEEDED])
            & ~Q(refunds__source=RefundSource.HOLD_RELEASE),
        ),
        0,
    )
    due = (
        SubOrder.objects.filter(status__in=RELEASED_STATES, captured_minor__gt=0)
        .annotate(kept=kept)
        .filter(captured_minor__gt=F("kept"))
        .order_by("id")
    )
    if sub_order_ids is not None:
        due = due.filter(pk__in=sub_order_ids)
    made = 0
    for sub_order_id in due.values_list("id", flat=True)[:limit]:
        try:
            refund = refund_sub_order_remaining(
                sub_order_id=sub_order_id,
                reason="The order was declined; the part taken meanwhile is given back",
                actor="system",
            )
        except Exception:  # one bad row must not stop the sweep
            logger.exception(
                "sub-order %s: refund of a declined captured part failed", sub_order_id
            )
            continue
        made += refund is not None
    return made
