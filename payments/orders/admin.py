"""Admin for orders and their sub-orders: read-only (money and states change only through the
services), with each order's lines, sub-orders and event log beneath it."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join

from core.admin_base import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    change_link,
    changelist_link,
    money_column,
    name_reference_page,
)
from payments.orders.models import Order, OrderEvent, OrderLine, SubOrder

name_reference_page("sub_order", "payments_suborder")


class SubOrderInline(ReadOnlyInline):
    model = SubOrder
    fields = ["seller", "status", "amount_minor", "captured_minor", "fee_minor", "currency"]
    show_change_link = True


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fk_name = "order"
    fields = ["created_at", "kind", "sub_order", "actor", "data"]


class SubOrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fk_name = "sub_order"
    fields = ["created_at", "kind", "actor", "data"]


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ["product", "title", "unit_price", "quantity", "amount"]

    unit_price = money_column(
        "unit_price_minor", label="Unit price", currency_field="sub_order__currency"
    )
    amount = money_column("amount_minor", label="Amount", currency_field="sub_order__currency")


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
    ordering = ["-created_at"]
    readonly_fields = ["total", "payments_link", "sub_order_links"]
    inlines = [SubOrderInline, OrderEventInline]

    total = money_column("total_minor", label="Total")

    @admin.display(description="payments")
    def payments_link(self, obj: Order) -> str:
        return changelist_link(
            "payments_payment", {"order__id__exact": obj.pk}, f"payments of order {obj.number}"
        )

    @admin.display(description="sub-orders")
    def sub_order_links(self, obj: Order) -> str:
        subs = obj.sub_orders.select_related("order", "seller").order_by("id")
        return (
            format_html_join(
                ", ", "{}", ((change_link(sub, f"{sub} ({sub.seller})"),) for sub in subs)
            )
            or "—"
        )


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
    ordering = ["-created_at"]
    readonly_fields = [
        "amount",
        "captured",
        "fee",
        "order_link",
        "transfers_link",
        "batch_link",
        "refunds_link",
    ]
    inlines = [OrderLineInline, SubOrderEventInline]

    amount = money_column("amount_minor", label="Amount")
    captured = money_column("captured_minor", label="Captured")
    fee = money_column("fee_minor", label="Fee")

    @admin.display(description="order")
    def order_link(self, obj: SubOrder) -> str:
        return change_link(obj.order, f"order {obj.order.number}")

    @admin.display(description="ledger transfers")
    def transfers_link(self, obj: SubOrder) -> str:
        """The ledger names a sub-order's money by reference: its payment's holds and capture
        (`payment:<id>`, one per payment of the order: the holds of the order's other sub-orders
        share it) and its release to the seller (`sub_order:<id>`)."""
        references = [f"payment:{pk}" for pk in obj.order.payments.values_list("pk", flat=True)]
        references.append(f"sub_order:{obj.pk}")
        return changelist_link(
            "ledger_transfer",
            {"reference__in": ",".join(references)},
            "its payment's and its release's transfers",
        )

    @admin.display(description="settlement batch")
    def batch_link(self, obj: SubOrder) -> str:
        return changelist_link(
            "settlement_settlementbatch", {"sub_order": obj.pk}, "the batch that paid it out"
        )

    @admin.display(description="refunds")
    def refunds_link(self, obj: SubOrder) -> str:
        return changelist_link("payments_refund", {"sub_order__id__exact": obj.pk}, "refunds")


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "sub_order",
        "title",
        "quantity",
        money_column("unit_price_minor", label="Unit price", currency_field="sub_order__currency"),
        money_column("amount_minor", label="Amount", currency_field="sub_order__currency"),
    ]
    list_filter = ["sub_order__currency"]
    search_fields = ["title", "sub_order__order__number", "=product__id"]
    list_select_related = ["sub_order__order"]
    ordering = ["-id"]
    fields = ["sub_order", "product", "title", "quantity", "unit_price", "amount"]
    readonly_fields = fields

    unit_price = money_column(
        "unit_price_minor", label="Unit price", currency_field="sub_order__currency"
    )
    amount = money_column("amount_minor", label="Amount", currency_field="sub_order__currency")


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdmin):
    """The orders' event log (what webhooks and emails are made from), append-only."""

    list_display = ["created_at", "kind", "order", "sub_order", "actor", "dispatched_at"]
    list_filter = ["kind", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["order__number", "kind", "actor"]
    date_hierarchy = "created_at"
    list_select_related = ["order", "sub_order__order"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    fields = [
        "created_at",
        "kind",
        "order",
        "sub_order",
        "actor",
        "data",
        "relayed_at",
        "dispatched_at",
    ]
    readonly_fields = fields
