"""Settlement in the admin, read-only: batches with their payouts, payouts with their history,
held releases, currency conversions. Money moves only through the settlement services: the
actions here re-drive a payout through them (status first), as the sweeper would, and download
payouts as a pain.001 file. The one thing staff enter here is FX rates: added, never edited (a
correction is a newer rate)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponse
from django.utils import timezone

from core.admin_base import ReadOnlyAdmin, ReadOnlyInline
from core.errors import ApplicationError
from settlement.models import (
    Acknowledgement,
    ConfirmationRecord,
    FxConversion,
    FxRate,
    HeldRelease,
    Payout,
    PayoutEvent,
    Receipt,
    SettlementBatch,
)
from settlement.payouts.files import pain001_for
from settlement.payouts.tasks import payout_check
from settlement.reconciliation.admin_inlines import PayoutStatementLineInline, money


class PayoutInline(ReadOnlyInline):
    model = Payout
    fields = ("id", "status", "amount_minor", "currency", "bank_reference", "failure_code")
    show_change_link = True


class PayoutEventInline(ReadOnlyInline):
    model = PayoutEvent
    fields = ("created_at", "kind", "data")


@admin.register(SettlementBatch)
class SettlementBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "seller", "currency", "period_end", "net", "line_count")
    list_filter = ("currency", ("period_end", admin.DateFieldListFilter))
    search_fields = ("=id", "seller__email")
    date_hierarchy = "period_end"
    inlines = [PayoutInline]

    @admin.display(description="net", ordering="net_minor")
    def net(self, obj):
        return money(obj.net_minor, obj.currency)


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "seller",
        "amount",
        "status",
        "attempts",
        "bank_reference",
        "failure_code",
        "created_at",
    )
    list_filter = ("status", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "seller__email", "bank_reference")
    date_hierarchy = "created_at"
    inlines = [PayoutEventInline, PayoutStatementLineInline]

    @admin.display(description="amount", ordering="amount_minor")
    def amount(self, obj):
        return money(obj.amount_minor, obj.currency)

    actions = ["ask_the_bank", "download_pain001"]

    @admin.action(description="Ask the bank about the selected payouts now")
    def ask_the_bank(self, request, queryset):
        ids = [
            str(pk)
            for pk in queryset.filter(status__in=["created", "submitted"]).values_list(
                "pk", flat=True
            )
        ]
        for payout_id in ids:
            payout_check.delay(payout_id)
        messages.info(request, f"Asked the bank about {len(ids)} payout(s).")

    @admin.action(description="Download a pain.001 credit-transfer file of the selected payouts")
    def download_pain001(self, request, queryset):
        now = timezone.now()
        try:
            xml = pain001_for(list(queryset), created_at=now, execution_date=now.date())
        except ApplicationError as error:
            messages.error(request, f"No file: {error.message}")
            return None
        response = HttpResponse(xml, content_type="application/xml")
        response["Content-Disposition"] = f'attachment; filename="pain001-{now:%Y%m%d-%H%M%S}.xml"'
        return response


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


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    """Staff add rates (validated by FxRate.clean(): two different currencies with a minor unit,
    a positive exact rate, a time not in the future); the source is the staff member. A rate is
    read-only once recorded: conversions name it. An unused rate may be deleted."""

    list_display = ("base", "quote", "rate", "as_of", "source", "created_at")
    list_filter = ("base", "quote", ("as_of", admin.DateFieldListFilter))
    search_fields = ("=base", "=quote", "source")
    fields = ("base", "quote", "rate", "as_of", "source", "created_at")
    readonly_fields = ("source", "created_at")

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.source = f"staff:{request.user.pk}"
        super().save_model(request, obj, form, change)


@admin.register(FxConversion)
class FxConversionAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "seller",
        "source_minor",
        "source_currency",
        "target_minor",
        "target_currency",
        "spread_minor",
        "fx_rate",
    )
    list_filter = ("source_currency", "target_currency")
    search_fields = ("=id", "seller__email")
    raw_id_fields = ("fx_rate",)


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    """Issued receipts: what was signed and when (the bytes themselves are in the ledger's log)."""

    list_display = ("id", "sub_order", "sequence", "status", "key_id", "issued_at")
    list_filter = ("status", ("issued_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=sha256", "sub_order__order__number")
    raw_id_fields = ("sub_order",)
    exclude = ("body", "signature")


@admin.register(Acknowledgement)
class AcknowledgementAdmin(ReadOnlyAdmin):
    """Acknowledgements of paid payouts; the disputed ones are the cases for staff, resolved with
    POST /api/v1/acknowledgements/<id>/resolve (settlement.confirmations.services.case_resolve)."""

    list_display = ("id", "side", "payout", "sub_order", "party", "state", "answer", "due_at")
    list_filter = ("state", "side", "answer")
    search_fields = ("=id", "=payout__id", "party__email")
    exclude = ("statement", "signature")


@admin.register(ConfirmationRecord)
class ConfirmationRecordAdmin(ReadOnlyAdmin):
    list_display = ("id", "sub_order", "sequence", "sha256", "created_at")
    search_fields = ("=id", "=sha256")
    exclude = ("body",)


# Reconciliation: statements, lines, the work queue, adjustments, the audit trail.
from settlement.reconciliation import admin as reconciliation_admin  # noqa: E402, F401
