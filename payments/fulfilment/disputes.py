"""Disputes: the buyer objects instead of confirming; staff decide.

The buyer may open one while the sub-order is accepted or shipped and its confirmation window
(confirm_by) has not lapsed. Opening stops the clock (confirm_by cleared) so auto-confirm leaves
the sub-order alone. Staff resolve it in Django admin: for the buyer -> whatever remains captured
is refunded (the sub-order becomes refunded when the refund succeeds); for the seller -> escrow is
released exactly as on confirmation (status confirmed).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationError
from payments.fulfilment.acceptance import settle
from payments.fulfilment.confirmation import buyer_order_id_of, lock_order_payment, release_escrow
from payments.fulfilment.models import Dispute, DisputeOutcome, DisputeStatus, RefundStatus
from payments.fulfilment.refunds import refund_sub_order_remaining
from payments.orders.events import DISPUTE_OPENED, DISPUTE_RESOLVED, record_order_event
from payments.orders.models import SubOrder, SubOrderStatus
from payments.orders.sub_order_state import lock_sub_order, sub_order_transition

SO = SubOrderStatus
MAX_REASON = 2000
DISPUTABLE = frozenset({SO.ACCEPTED, SO.SHIPPED})


def dispute_window_open(sub_order: SubOrder, now=None) -> bool:
    now = now or timezone.now()
    return sub_order.status in DISPUTABLE and (
        sub_order.confirm_by is None or sub_order.confirm_by > now
    )


def dispute_open(*, sub_order_id: Any, buyer: Any, reason: str, actor: str) -> Dispute:
    """Open a dispute on the buyer's own sub-order (others: NotFound)."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationError("Tell us what went wrong.", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"At most {MAX_REASON} characters.", field="reason")
    order_id = buyer_order_id_of(sub_order_id=sub_order_id, buyer=buyer)
    with transaction.atomic():
        lock_order_payment(order_id)
        sub_order = lock_sub_order(sub_order_id)
        if sub_order.status == SO.DISPUTED:
            raise Conflict("A dispute is already open for this order.", code="dispute_open")
        if sub_order.status not in DISPUTABLE:
            raise Conflict(
                f"An order that is {sub_order.get_status_display().lower()} cannot be disputed.",
                code="not_disputable",
            )
        if not dispute_window_open(sub_order):
            raise Conflict(
                "The time to dispute this order has passed "
                f"({sub_order.confirm_by:%d %b %Y %H:%M} UTC).",
                code="dispute_window_closed",
            )
        try:
            with transaction.atomic():
                dispute = Dispute.objects.create(
                    sub_order=sub_order, opened_by=actor[:64], reason=reason
                )
        except IntegrityError:
            raise Conflict(
                "A dispute is already open for this order.", code="dispute_open"
            ) from None
        sub_order_transition(
            sub_order_id=sub_order.pk,
            to_status=SO.DISPUTED,
            actor=actor,
            event=DISPUTE_OPENED,
            fields={"confirm_by": None},
            data={"dispute": dispute.pk, "reason": reason},
        )
    return dispute


def dispute_resolve(*, dispute_id: Any, outcome: str, actor: str, note: str = "") -> Dispute:
    """Staff decide: "buyer" (refund what remains) or "seller" (release)."""
    if outcome not in DisputeOutcome.values:
        raise ValidationError("Resolve for the buyer or for the seller.", field="outcome")
    row = (
        Dispute.objects.filter(pk=dispute_id).values("sub_order_id", "sub_order__order_id").first()
    )
    if row is None:
        raise NotFound("No such dispute.", code="dispute_not_found")
    release_hold = False
    with transaction.atomic():
        lock_order_payment(row["sub_order__order_id"])
        dispute = Dispute.objects.select_for_update().get(pk=dispute_id)
        if dispute.status != DisputeStatus.OPEN:
            raise Conflict("This dispute has been resolved already.", code="dispute_resolved")
        sub_order = lock_sub_order(dispute.sub_order_id)
        dispute.status = DisputeStatus.RESOLVED
        dispute.outcome = outcome
        dispute.resolved_by = actor[:64]
        dispute.resolution_note = note or ""
        dispute.resolved_at = timezone.now()
        dispute.save()
        data = {"dispute": dispute.pk, "outcome": outcome, "note": note or ""}
        if outcome == DisputeOutcome.SELLER:
            # The release's own transition records dispute.resolved (disputed -> confirmed).
            release_escrow(sub_order=sub_order, actor=actor, event=DISPUTE_RESOLVED, data=data)
        else:
            record_order_event(
                order=sub_order.order,
                sub_order=sub_order,
                kind=DISPUTE_RESOLVED,
                actor=actor,
                data={"sub_order": sub_order.pk, **data},
            )
            if sub_order.captured_minor == 0:
                # Accepted but not captured yet (the capture failed or is in flight): nothing
                # to refund. The decision is final now; the hold is released at the provider
                # and in the ledger together once it commits (sub_order_release, which ends the
                # payment when it was the last hold; the sweeper retries a provider that is down).
                sub_order_transition(
                    sub_order_id=sub_order.pk,
                    to_status=SO.REFUNDED,
                    actor=actor,
                    event=DISPUTE_RESOLVED,
                    data={**data, "released_uncaptured": sub_order.amount_minor},
                )
                release_hold = True
                refund = None
            else:
                refund = refund_sub_order_remaining(
                    sub_order_id=sub_order.pk, reason="Dispute resolved for the buyer", actor=actor
                )
            if (
                not release_hold
                and refund is None
                and sub_order.status == SO.DISPUTED
                and not sub_order.refunds.filter(status=RefundStatus.PENDING).exists()
            ):
                # Nothing left to give back (refunded earlier): the outcome is final now. With a
                # refund still pending the sub-order stays disputed: its success makes it
                # refunded; its failure puts the money back in escrow, which a final state
                # would strand (staff refund it again).
                sub_order_transition(
                    sub_order_id=sub_order.pk,
                    to_status=SO.REFUNDED,
                    actor=actor,
                    event=DISPUTE_RESOLVED,
                    data=data,
                )
    if release_hold:
        settle(dispute.sub_order_id, capture=False, actor=actor)
    return dispute
