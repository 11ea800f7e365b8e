"""Reads for orders: who may see which order, and how much of it the ledger holds in escrow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from core.errors import NotFound
from ledger.models import Transfer, TransferKind
from payments.orders.models import Order, OrderStatus, SubOrder, SubOrderStatus

# Sub-order states after which nothing more happens without a person acting.
RESTING_SUB_ORDER_STATES = {
    SubOrderStatus.CONFIRMED,
    SubOrderStatus.REFUNDED,
    SubOrderStatus.CANCELLED,
    SubOrderStatus.REJECTED,
}


def orders_visible_to(user: Any) -> QuerySet[Order]:
    """Buyer: own orders. Seller: orders with one of the seller's sub-orders. Staff: all."""
    orders = Order.objects.all()
    if getattr(user, "is_platform_staff", False):
        return orders
    if getattr(user, "is_seller", False):
        return orders.filter(sub_orders__seller=user).distinct()
    return orders.filter(buyer=user)


def order_get_visible(*, user: Any, order_id: Any) -> Order:
    """The order if `user` may see it; otherwise NotFound (never reveal that it exists)."""
    order = orders_visible_to(user).filter(pk=order_id).first()
    if order is None:
        raise NotFound("No such order.")
    return order


def order_get_for_buyer(*, user: Any, order_id: Any) -> Order:
    """Pages for the buyer (and staff): the order alone. The status panel reads its sub-orders
    and lines itself, after the on-access expiry check may have changed them."""
    orders = Order.objects.all()
    if not getattr(user, "is_platform_staff", False):
        orders = orders.filter(buyer=user)
    order = orders.filter(pk=order_id).first()
    if order is None:
        raise NotFound("No such order.")
    return order


def sub_orders_visible_to(*, user: Any, order: Order) -> QuerySet[SubOrder]:
    sub_orders = SubOrder.objects.filter(order=order).select_related("seller").order_by("id")
    if getattr(user, "is_seller", False) and not getattr(user, "is_platform_staff", False):
        sub_orders = sub_orders.filter(seller=user)
    return sub_orders.prefetch_related("lines")


@dataclass(frozen=True)
class EscrowHolding:
    amount_minor: int
    state: str  # "none" | "authorized" (pending hold) | "captured" | "released"


def escrow_holdings(sub_orders: list[SubOrder]) -> dict[int, EscrowHolding]:
    """Per sub-order, what the ledger holds in platform escrow for it.

    The payment side stores the pending transfer (external:<provider> -> platform:escrow) on
    SubOrder.escrow_transfer_id. Held = its amount while pending; the posted amount once captured;
    nothing once voided, or once the sub-order reached a state where escrow has been paid out.
    """
    transfer_ids = [s.escrow_transfer_id for s in sub_orders if s.escrow_transfer_id]
    pending = {
        t.id: t.amount_minor
        for t in Transfer.objects.filter(id__in=transfer_ids, kind=TransferKind.PENDING)
    }
    closes = {
        t.pending_id: (t.kind, t.amount_minor)
        for t in Transfer.objects.filter(pending_id__in=transfer_ids)
    }
    holdings = {}
    for sub_order in sub_orders:
        transfer_id = sub_order.escrow_transfer_id
        if transfer_id not in pending:
            holdings[sub_order.id] = EscrowHolding(0, "none")
        elif sub_order.status in (SubOrderStatus.CONFIRMED, SubOrderStatus.REFUNDED):
            holdings[sub_order.id] = EscrowHolding(0, "released")
        elif transfer_id not in closes:
            holdings[sub_order.id] = EscrowHolding(pending[transfer_id], "authorized")
        else:
            kind, amount = closes[transfer_id]
            if kind == TransferKind.POST_PENDING:
                holdings[sub_order.id] = EscrowHolding(amount, "captured")
            else:
                holdings[sub_order.id] = EscrowHolding(0, "released")
    return holdings


def order_awaits_sellers(order: Order, sub_orders: list[SubOrder]) -> bool:
    """Paid and some seller has still to accept or ship: the page polls slowly (every 15 s), so
    the buyer sees "Accepted by seller" and then "Shipped" appear without reloading."""
    return order.status == OrderStatus.PAID and any(
        s.status in (SubOrderStatus.AWAITING_ACCEPTANCE, SubOrderStatus.ACCEPTED)
        for s in sub_orders
    )
