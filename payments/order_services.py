"""STUB written on the payment side only so its tests run; the storefront branch's
payments/order_services.py replaces this file at merge (it wins)."""

from __future__ import annotations

from django.db import transaction

from payments.models import Order, OrderStatus, SubOrderStatus


@transaction.atomic
def order_mark_paid(*, order: Order) -> None:
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status == OrderStatus.PAID:
        return
    order.status = OrderStatus.PAID
    order.save(update_fields=["status", "updated_at"])
    order.sub_orders.filter(status=SubOrderStatus.AWAITING_PAYMENT).update(
        status=SubOrderStatus.AWAITING_ACCEPTANCE
    )


@transaction.atomic
def order_mark_payment_failed(*, order: Order, reason: str) -> None:
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status != OrderStatus.AWAITING_PAYMENT:
        return
    order.status = OrderStatus.PAYMENT_FAILED
    order.save(update_fields=["status", "updated_at"])
