"""The buyer's confirmation of receipt, the payments half: which sub-orders may be confirmed, by
whom, and the hook through which a payments step releases escrow.

Releasing escrow (escrow -> the seller's pending balance, and the platform fee) is settlement's
work: settlement.release.services owns the confirm and auto-confirm services and the release
itself. payments never imports settlement (an import contract), so the one payments step that
releases escrow -- a dispute resolved for the seller -- calls `release_escrow` below, which runs
the handler settlement registers in SettlementConfig.ready().

Why a handler called in the caller's transaction rather than an event settlement consumes later:
the release is atomic with the state change that causes it. A dispute resolved for the seller
commits together with its release, or neither does (a refund still in flight refuses the release
and the resolution with it, as it always has), and the refusal reaches the caller as the error it
is instead of leaving a resolved dispute with unreleased money.

Lock order: Payment -> Order -> SubOrder -> ledger accounts (docs/architecture.md, "Lock order").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from core.errors import Conflict, NotFound
from payments.flows.models import Payment, PaymentStatus
from payments.orders.models import Order, SubOrder, SubOrderStatus

SO = SubOrderStatus
# Sub-order states in which the buyer may confirm receipt.
CONFIRMABLE = frozenset({SO.ACCEPTED, SO.SHIPPED})

# (sub_order=, actor=, event=, data=) -> the sub-order, confirmed; run inside the caller's
# transaction, which holds the Payment and SubOrder locks.
ReleaseHandler = Callable[..., SubOrder]
_release_handler: ReleaseHandler | None = None


def register_release_handler(handler: ReleaseHandler) -> None:
    """Settlement's escrow release (called once, from SettlementConfig.ready())."""
    global _release_handler  # set once at start-up
    _release_handler = handler


def release_escrow(
    *, sub_order: SubOrder, actor: str, event: str, data: dict | None = None
) -> SubOrder:
    """Release the sub-order's escrow to its seller and mark it confirmed, in the caller's
    transaction (which holds the Payment and SubOrder locks and has checked who may do this)."""
    if _release_handler is None:
        raise ImproperlyConfigured("payments: no escrow release handler (SettlementConfig.ready)")
    assert transaction.get_connection().in_atomic_block, "released inside the caller's transaction"
    return _release_handler(sub_order=sub_order, actor=actor, event=event, data=data)


def lock_order_payment(order_id: Any) -> Payment | None:
    """The order's payment that holds or took money (captured, else authorised), row-locked,
    then the order's row (the lock order: Payment -> Order -> ... -> SubOrders; a sub-order's
    transition may complete the order, which takes the order's row)."""
    payments = Payment.objects.select_for_update().filter(order_id=order_id)
    payment = (
        payments.filter(status=PaymentStatus.CAPTURED).order_by("-created_at").first()
        or payments.filter(status=PaymentStatus.AUTHORIZED).order_by("-created_at").first()
    )
    Order.objects.select_for_update().filter(pk=order_id).first()
    return payment


def buyer_order_id_of(*, sub_order_id: Any, buyer: Any) -> Any:
    """The order id of the buyer's own sub-order; another buyer's (or none) is NotFound."""
    row = (
        SubOrder.objects.filter(pk=sub_order_id, order__buyer_id=getattr(buyer, "pk", None))
        .values("order_id")
        .first()
    )
    if row is None:
        raise NotFound("No such order.", code="order_not_found")
    return row["order_id"]


def check_confirmable(sub_order: SubOrder) -> None:
    """The buyer may confirm once the seller has accepted (shipped or not: collection in person,
    digital goods); never before acceptance, never while a dispute is open."""
    if sub_order.status in (SO.AWAITING_PAYMENT, SO.AWAITING_ACCEPTANCE):
        raise Conflict(
            "The seller has not accepted this order yet; confirm receipt once they have.",
            code="not_accepted",
        )
    if sub_order.status == SO.DISPUTED:
        raise Conflict("This order is under dispute; staff will decide it.", code="order_disputed")
    if sub_order.status not in CONFIRMABLE:
        raise Conflict(
            f"An order that is {sub_order.get_status_display().lower()} cannot be confirmed.",
            code="not_confirmable",
        )
