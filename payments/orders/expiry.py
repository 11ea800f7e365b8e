"""Unpaid orders expire past `expires_at`: their stock goes back, their sub-orders are cancelled.

One short transaction per order (its checkout session's row locked first, then the order's, its
sub-orders', its products'), so a large backlog never holds many locks at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from payments.orders.models import CheckoutSession, Order, OrderStatus, SubOrder, SubOrderStatus
from payments.orders.services import lock_order
from payments.orders.stock import release_stock_locked


def lock_session_of(order_id: Any):
    return CheckoutSession.objects.select_for_update().filter(order_id=order_id).first()


def _expire_one(order_id: Any, now: datetime) -> bool:
    with transaction.atomic():
        lock_session_of(order_id)
        locked = lock_order(order_id)
        if (
            locked.status not in (OrderStatus.AWAITING_PAYMENT, OrderStatus.PAYMENT_FAILED)
            or locked.expires_at is None
            or locked.expires_at > now
        ):
            return False
        # The sub-orders before the products (the one lock order: docs/architecture.md).
        SubOrder.objects.filter(order=locked, status=SubOrderStatus.AWAITING_PAYMENT).update(
            status=SubOrderStatus.CANCELLED, updated_at=now
        )
        release_stock_locked(locked)
        locked.status = OrderStatus.EXPIRED
        locked.save(update_fields=["status", "updated_at"])
        return True


def order_expire_unpaid(*, now: datetime | None = None, limit: int = 500) -> int:
    """Expire unpaid orders past `expires_at` and release their stock; returns how many.

    One short transaction per order, so a large backlog never holds many locks at once;
    `limit` bounds one run (the beat schedule runs it again).
    """
    now = now or timezone.now()
    order_ids = list(
        Order.objects.filter(
            status__in=[OrderStatus.AWAITING_PAYMENT, OrderStatus.PAYMENT_FAILED],
            expires_at__lte=now,
        )
        .order_by("expires_at")
        .values_list("id", flat=True)[:limit]
    )
    return sum(1 for order_id in order_ids if _expire_one(order_id, now))


def order_expire(*, order: Order, now: datetime | None = None) -> bool:
    """Expire one order now if it is unpaid and past its deadline (a check on access)."""
    expired = _expire_one(order.pk, now or timezone.now())
    order.refresh_from_db()
    return expired
