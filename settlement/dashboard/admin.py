"""Admin (read-only): the seller dashboard's daily totals, derived from the ledger's log by a job,
and the cursors of the jobs that read the log. Both are rebuilt from the ledger, never edited."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import ReadOnlyAdmin, money_column
from settlement.dashboard.models import LogCursor, SellerDailyTotal


@admin.register(SellerDailyTotal)
class SellerDailyTotalAdmin(ReadOnlyAdmin):
    list_display = (
        "day",
        "seller",
        money_column("sales_minor", label="Sales"),
        "sales_count",
        money_column("fees_minor", label="Fees"),
        money_column("refunds_minor", label="Refunds"),
        "refunds_count",
    )
    list_filter = ("currency",)
    search_fields = ("seller__email",)
    date_hierarchy = "day"
    list_select_related = ("seller",)
    ordering = ("-day", "seller_id", "currency")
    show_full_result_count = False
    fields = (
        "seller",
        "day",
        "currency",
        "sales",
        "sales_count",
        "fees",
        "refunds",
        "refunds_count",
    )
    readonly_fields = fields

    sales = money_column("sales_minor", label="Sales")
    fees = money_column("fees_minor", label="Fees")
    refunds = money_column("refunds_minor", label="Refunds")


@admin.register(LogCursor)
class LogCursorAdmin(ReadOnlyAdmin):
    list_display = ("name", "next_index", "updated_at")
    search_fields = ("name",)
    ordering = ("name",)
