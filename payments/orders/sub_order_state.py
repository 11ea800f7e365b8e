"""The sub-order state machine (one seller's part of an order after payment).

    awaiting_payment     -> awaiting_acceptance (paid) | cancelled
    awaiting_acceptance  -> accepted | rejected (seller said no, or the window lapsed) | cancelled
    accepted             -> shipped | confirmed (buyer confirms before shipping) | refunded
                            | disputed
    shipped              -> confirmed (buyer or auto-confirm) | disputed | refunded
    disputed             -> confirmed (resolved for the seller) | refunded (resolved for the buyer)
    confirmed            -> refunded (refunded in full after release)
    rejected, refunded, cancelled: final

`sub_order_transition` locks the SubOrder row, checks the table, sets the status and the fields
given, and records the OrderEvent in the same transaction. Money effects (capture, release,
refund) are the caller's, inside the same transaction, after the lock.
Lock order: Payment -> Order -> SubOrders (by id) -> ledger accounts.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, NotFound
from payments.orders.events import record_order_event
from payments.orders.models import Order, OrderStatus, SubOrder, SubOrderStatus

SO = SubOrderStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    SO.AWAITING_PAYMENT: frozenset({SO.AWAITING_ACCEPTANCE, SO.CANCELLED}),
    SO.AWAITING_ACCEPTANCE: frozenset({SO.ACCEPTED, SO.REJECTED, SO.CANCELLED}),
    # The buyer may confirm receipt before the seller marks it shipped (collected in person,
    # digital goods): their own word releases the money (settlement.release.services.sub_order_confirm).
    SO.ACCEPTED: frozenset({SO.SHIPPED, SO.CONFIRMED, SO.REFUNDED, SO.DISPUTED}),
    SO.SHIPPED: frozenset({SO.CONFIRMED, SO.DISPUTED, SO.REFUNDED}),
    SO.DISPUTED: frozenset({SO.CONFIRMED, SO.REFUNDED}),
    SO.CONFIRMED: frozenset({SO.REFUNDED}),
    SO.REJECTED: frozenset(),
    SO.REFUNDED: frozenset(),
    SO.CANCELLED: frozenset(),
}
FINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)


class IllegalSubOrderTransition(Conflict):
    """This sub-order cannot move to that state from the state it is in."""

    code = "illegal_order_transition"


# A sub-order in one of these still waits for someone (seller, buyer, staff or the clock).
OPEN = frozenset(
    {SO.AWAITING_PAYMENT, SO.AWAITING_ACCEPTANCE, SO.ACCEPTED, SO.SHIPPED, SO.DISPUTED}
)


def _complete_order_if_settled(order_id: Any) -> None:
    """A paid order whose every seller's part has ended (confirmed, refunded, rejected) is
    completed, so the buyer no longer reads "held in escrow" once the money has moved on. Callers
    hold the Payment lock first (the project's lock order), which serialises this per order."""
    Order.objects.filter(pk=order_id, status=OrderStatus.PAID).exclude(
        sub_orders__status__in=OPEN
    ).update(status=OrderStatus.COMPLETED, updated_at=timezone.now())


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def lock_sub_order(sub_order_id: Any) -> SubOrder:
    sub_order = (
        SubOrder.objects.select_for_update(of=("self",))
        .select_related("order")
        .filter(pk=sub_order_id)
        .first()
    )
    if sub_order is None:
        raise NotFound("No such order.", code="order_not_found")
    return sub_order


def sub_order_transition(
    *,
    sub_order_id: Any,
    to_status: str,
    actor: str,
    event: str,
    fields: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> SubOrder:
    """Move a sub-order to `to_status`, set `fields`, record `event`; or raise having changed
    nothing. Runs in (or opens) a transaction; the row stays locked until the caller commits."""
    if to_status not in TRANSITIONS:
        raise IllegalSubOrderTransition(f"Unknown order status {to_status!r}.")
    with transaction.atomic():
        sub_order = lock_sub_order(sub_order_id)
        from_status = sub_order.status
        if not can_transition(from_status, to_status):
            raise IllegalSubOrderTransition(
                f"An order that is {sub_order.get_status_display().lower()} cannot become "
                f"{SO(to_status).label.lower()}.",
                extra={"from": from_status, "to": to_status},
            )
        for name, value in (fields or {}).items():
            setattr(sub_order, name, value)
        sub_order.status = to_status
        sub_order.updated_at = timezone.now()
        sub_order.save(update_fields=["status", "updated_at", *(fields or {})])
        _complete_order_if_settled(sub_order.order_id)
        record_order_event(
            order=sub_order.order,
            sub_order=sub_order,
            kind=event,
            actor=actor,
            data={
                "sub_order": sub_order.pk,
                "seller": sub_order.seller_id,
                "from": from_status,
                "to": to_status,
                **(data or {}),
            },
        )
    return sub_order
