"""Reads for order events: which ones a user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from payments.orders.models import OrderEvent, SubOrder


def events_visible_to(user: Any) -> QuerySet[OrderEvent]:
    """Buyer: events of own orders. Seller: events of own sub-orders and order-level events of
    orders the seller sells in. Staff: all. (Data is redacted per seller by event_data_for.)"""
    events = OrderEvent.objects.select_related("order")
    if getattr(user, "is_platform_staff", False):
        return events
    if getattr(user, "is_seller", False):
        selling_in = SubOrder.objects.filter(seller_id=user.pk).values("order_id")
        return events.filter(
            Q(sub_order__seller_id=user.pk) | Q(sub_order__isnull=True, order_id__in=selling_in)
        )
    return events.filter(order__buyer_id=user.pk)
