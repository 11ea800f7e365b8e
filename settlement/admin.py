"""Settlement in the admin, read-only: batches with their payouts, payouts with their history,
held releases. Money moves only through the settlement services; the one action here re-drives a
payout through them (status first), as the sweeper would."""

from __future__ import annotations

from django.contrib import admin, messages

from core.admin_base import ReadOnlyAdmin, ReadOnlyInline
from settlement.models import HeldRelease, Payout, PayoutEvent, Receipt, SettlementBatch


class PayoutInline(ReadOnlyInline):
    model = Payout
    fields = ("id", "status", "amount_minor", "currency", "bank_reference", "failure_code")
    show_change_link = True


class PayoutEventInline(ReadOnlyInline):
    model = PayoutEvent
    fields = ("created_at", "kind", "data")


@admin.register(SettlementBatch)
class SettlementBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "seller", "currency", "period_end", "net_minor", "line_count")
    list_filter = ("currency", ("period_end", admin.DateFieldListFilter))
    search_fields = ("=id", "seller__email")
    inlines = [PayoutInline]


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "seller",
        "amount_minor",
        "currency",
        "status",
        "attempts",
        "bank_reference",
        "failure_code",
        "created_at",
    )
    list_filter = ("status", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "seller__email", "bank_reference")
    inlines = [PayoutEventInline]
    actions = ["ask_the_bank"]

    @admin.action(description="Ask the bank about the selected payouts now")
    def ask_the_bank(self, request, queryset):
        from settlement.payouts.tasks import payout_check

        ids = [
            str(pk)
            for pk in queryset.filter(status__in=["created", "submitted"]).values_list(
                "pk", flat=True
            )
        ]
        for payout_id in ids:
            payout_check.delay(payout_id)
        messages.info(request, f"Asked the bank about {len(ids)} payout(s).")


@admin.register(HeldRelease)
class HeldReleaseAdmin(ReadOnlyAdmin):
    list_display = (
        "release_transfer_id",
        "seller",
        "currency",
        "amount_minor",
        "reserve_minor",
        "due_at",
        "matured_at",
    )
    list_filter = ("currency",)
    search_fields = ("=release_transfer_id", "seller__email")


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    """Issued receipts: what was signed and when (the bytes themselves are in the ledger's log)."""

    list_display = ("id", "sub_order", "sequence", "status", "key_id", "issued_at")
    list_filter = ("status", ("issued_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=sha256", "sub_order__order__number")
    raw_id_fields = ("sub_order",)
    exclude = ("body", "signature")
