"""Admin for orders and their sub-orders: read-only (money and states change only through the
services), with each order's lines, sub-orders and event log beneath it."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import ReadOnlyAdmin, ReadOnlyInline, money_column
from payments.orders.models import Order, OrderEvent, OrderLine, SubOrder


class SubOrderInline(ReadOnlyInline):
    model = SubOrder
    fields = ["seller", "status", "amount_minor", "captured_minor", "fee_minor", "currency"]
    show_change_link = True


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ["created_at", "kind", "sub_order", "actor", "data"]


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ["product", "title", "unit_price_minor", "quantity", "amount_minor"]


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "buyer",
        "status",
        money_column("total_minor", label="Total"),
        "created_at",
    ]
    list_filter = ["status", "currency"]
    search_fields = ["number", "id", "buyer__email", "buyer_email"]
    date_hierarchy = "created_at"
    list_select_related = ["buyer"]
    inlines = [SubOrderInline, OrderEventInline]


@admin.register(SubOrder)
class SubOrderAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "order",
        "seller",
        "status",
        money_column("amount_minor", label="Amount"),
        money_column("captured_minor", label="Captured"),
        money_column("fee_minor", label="Fee"),
        "created_at",
    ]
    list_filter = ["status", "currency"]
    search_fields = ["order__number", "seller__email", "order__buyer__email"]
    date_hierarchy = "created_at"
    list_select_related = ["order", "seller"]
    inlines = [OrderLineInline]
