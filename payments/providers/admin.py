"""Admin (read-only): what the in-process sandbox processors keep on their side of the simulated
network, for following a test payment from the processor's side. A charge shows its card's brand
and last four only (never the card token)."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import ReadOnlyAdmin, ReadOnlyInline, money_column
from core.money import Money
from payments.providers.models import (
    SandboxCardCharge,
    SandboxOperation,
    SandboxWalletNotice,
    SandboxWalletTrade,
)


@admin.register(SandboxCardCharge)
class SandboxCardChargeAdmin(ReadOnlyAdmin):
    list_display = [
        "reference",
        "brand",
        "last4",
        money_column("amount_minor", label="Amount"),
        money_column("captured_minor", label="Captured"),
        money_column("refunded_minor", label="Refunded"),
        "status",
        "failure_code",
        "created_at",
    ]
    list_filter = ["status", "brand", "currency"]
    search_fields = ["=reference", "=idempotency_key", "last4"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False
    # The card token is left out on purpose: brand and last four are enough to recognise a card.
    fields = [
        "reference",
        "idempotency_key",
        "brand",
        "last4",
        "amount",
        "captured",
        "refunded",
        "status",
        "failure_code",
        "challenge_expires_at",
        "attempts",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    amount = money_column("amount_minor", label="Amount")
    captured = money_column("captured_minor", label="Captured")
    refunded = money_column("refunded_minor", label="Refunded")


class SandboxWalletNoticeInline(ReadOnlyInline):
    model = SandboxWalletNotice
    fields = ["notify_id", "attempts", "acknowledged_at", "last_error", "created_at"]


@admin.register(SandboxWalletTrade)
class SandboxWalletTradeAdmin(ReadOnlyAdmin):
    list_display = [
        "trade_no",
        "provider",
        "out_trade_no",
        money_column("amount_minor", label="Amount"),
        money_column("captured_minor", label="Captured"),
        money_column("refunded_minor", label="Refunded"),
        "status",
        "created_at",
    ]
    list_filter = ["provider", "status", "currency"]
    search_fields = ["=trade_no", "=out_trade_no", "subject"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False
    fields = [
        "provider",
        "trade_no",
        "out_trade_no",
        "subject",
        "amount",
        "captured",
        "refunded",
        "status",
        "notify_url",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [SandboxWalletNoticeInline]

    amount = money_column("amount_minor", label="Amount")
    captured = money_column("captured_minor", label="Captured")
    refunded = money_column("refunded_minor", label="Refunded")


@admin.register(SandboxWalletNotice)
class SandboxWalletNoticeAdmin(ReadOnlyAdmin):
    list_display = ["notify_id", "trade", "attempts", "acknowledged_at", "created_at"]
    list_filter = [("acknowledged_at", admin.EmptyFieldListFilter), "trade__provider"]
    search_fields = ["=notify_id", "=trade__trade_no"]
    date_hierarchy = "created_at"
    list_select_related = ["trade"]
    ordering = ["-created_at"]
    fields = ["notify_id", "trade", "params", "attempts", "acknowledged_at", "last_error"]
    readonly_fields = fields


@admin.register(SandboxOperation)
class SandboxOperationAdmin(ReadOnlyAdmin):
    """Idempotency records of capture, void and refund. The row has no currency of its own: the
    amount shows on the detail page in its charge's or trade's currency."""

    list_display = ["created_at", "processor", "kind", "reference", "idempotency_key"]
    list_filter = ["processor", "kind"]
    search_fields = ["=reference", "=idempotency_key"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    fields = ["created_at", "processor", "kind", "reference", "idempotency_key", "amount", "result"]
    readonly_fields = fields

    @admin.display(description="amount")
    def amount(self, obj: SandboxOperation) -> str:
        source = (
            SandboxCardCharge.objects.filter(reference=obj.reference).first()
            or SandboxWalletTrade.objects.filter(trade_no=obj.reference).first()
        )
        if source is None:
            return f"{obj.amount_minor} (minor units; its charge is gone)"
        return Money(obj.amount_minor, source.currency).format("en")
