"""Settlement in the admin, read-only: batches with their payouts, payouts with their history,
held releases, currency conversions. Money moves only through the settlement services: the
actions here re-drive a payout through them (status first), as the sweeper would, and download
payouts as a pain.001 file. The one thing staff enter here is FX rates: added, never edited (a
correction is a newer rate)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin_base import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    change_link,
    mask_iban,
    money_column,
    name_reference_page,
)
from core.errors import ApplicationError
from core.money import Money
from ledger.models import LogEntry
from settlement.batches import batch_lines
from settlement.models import (
    Acknowledgement,
    BankCallbackReceipt,
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
from settlement.reconciliation.admin_inlines import PayoutStatementLineInline
from settlement.reconciliation.models import LineMatch
from settlement.release.services import release_transfer_id

BATCH_LINES_SHOWN = 50

name_reference_page("payout", "settlement_payout")
name_reference_page("fx_conversion", "settlement_fxconversion")
# A maturation's reference names the escrow release transfer it follows.
name_reference_page("release", "ledger_transfer")


class PayoutInline(ReadOnlyInline):
    model = Payout
    fields = ("id", "status", "amount", "bank_reference", "failure_code")
    show_change_link = True

    amount = money_column("amount_minor", label="Amount")


class PayoutEventInline(ReadOnlyInline):
    model = PayoutEvent
    fields = ("created_at", "kind", "data")


def batches_covering_sub_order(sub_order_id: int) -> Q:
    """The batches that paid out a sub-order's money: those whose log range holds a transfer that
    moved its release into the seller's `available` account (the release matured, or its reserve
    was let go). Found by the release's reference, `release:<release transfer id>` (indexed)."""
    release = release_transfer_id(sub_order_id, "release:net")
    entries = LogEntry.objects.filter(
        transfer__reference=f"release:{release}",
        transfer__reason__in=("balance_matured", "reserve_released"),
    ).values_list("index", "transfer__currency")
    seller_id = (
        HeldRelease.objects.filter(release_transfer_id=release)
        .values_list("seller_id", flat=True)
        .first()
    )
    covering = Q(pk__in=[])
    for index, currency in entries:
        covering |= Q(seller_id=seller_id, currency=currency, log_from__lte=index, log_to__gt=index)
    return covering


class SubOrderFilter(admin.SimpleListFilter):
    """`?sub_order=<id>`: the link from a sub-order's admin page to the batch that paid it out."""

    title = "sub-order"
    parameter_name = "sub_order"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, f"sub-order {value}")] if value else []

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            sub_order_id = int(self.value())
        except ValueError:
            return queryset.none()
        return queryset.filter(batches_covering_sub_order(sub_order_id))


@admin.register(SettlementBatch)
class SettlementBatchAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "seller",
        "period_end",
        money_column("net_minor", label="Net"),
        "line_count",
        "created_at",
    )
    list_filter = (SubOrderFilter, "currency", ("period_end", admin.DateFieldListFilter))
    search_fields = ("=id", "seller__email")
    date_hierarchy = "period_end"
    list_select_related = ("seller",)
    inlines = [PayoutInline]
    readonly_fields = ("net", "credits", "debits", "payout_links", "lines")

    net = money_column("net_minor", label="Net")
    credits = money_column("credits_minor", label="Paid in")
    debits = money_column("debits_minor", label="Taken out")

    @admin.display(description="payouts")
    def payout_links(self, obj: SettlementBatch) -> str:
        payouts = obj.payouts.order_by("created_at")
        return (
            format_html_join(
                ", ", "{}", ((change_link(p, f"payout {p.pk} ({p.status})"),) for p in payouts)
            )
            or "—"
        )

    @admin.display(description="lines (the ledger transfers it covers)")
    def lines(self, obj: SettlementBatch) -> str:
        rows = batch_lines(obj, limit=BATCH_LINES_SHOWN)
        if not rows:
            return "—"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    line.log_index,
                    format_html(
                        '<a href="{}">{}</a>',
                        reverse("admin:ledger_transfer_change", args=[line.transfer_id]),
                        line.transfer_id,
                    ),
                    line.reason,
                    Money(line.amount_minor, obj.currency).format("en"),
                    _sub_order_link(line.metadata.get("sub_order")),
                )
                for line in rows
            ),
        )
        more = (
            f"The first {BATCH_LINES_SHOWN} of {obj.line_count} lines."
            if obj.line_count > BATCH_LINES_SHOWN
            else ""
        )
        return format_html(
            "<table><tr><th>log index</th><th>transfer</th><th>reason</th><th>amount</th>"
            "<th>sub-order</th></tr>{}</table>{}",
            body,
            more,
        )


def _sub_order_link(sub_order_id) -> str:
    if not sub_order_id:
        return "—"
    url = reverse("admin:payments_suborder_change", args=[sub_order_id])
    return format_html('<a href="{}">sub-order {}</a>', url, sub_order_id)


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    """The account paid shows masked (country, check digits, last four), here and in the list."""

    list_display = (
        "id",
        "seller",
        money_column("amount_minor", label="Amount"),
        "status",
        "account",
        "attempts",
        "bank_reference",
        "failure_code",
        "created_at",
    )
    list_filter = ("status", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "seller__email", "bank_reference")
    date_hierarchy = "created_at"
    list_select_related = ("seller",)
    inlines = [PayoutEventInline, PayoutStatementLineInline]
    fields = (
        "id",
        "batch_link",
        "seller",
        "amount",
        "status",
        "creditor_name",
        "account",
        "bic",
        "bank_reference",
        "failure_code",
        "failure_message",
        "attempts",
        "check_after",
        "created_at",
        "submitted_at",
        "paid_at",
        "failed_at",
        "returned_at",
        "bank_status_at",
        "notified_at",
        "statement_lines",
    )
    readonly_fields = fields

    amount = money_column("amount_minor", label="Amount")

    @admin.display(description="account")
    def account(self, obj: Payout) -> str:
        return mask_iban(obj.iban or obj.account_number)

    @admin.display(description="batch")
    def batch_link(self, obj: Payout) -> str:
        return change_link(obj.batch, f"batch {obj.batch_id} ({obj.batch.period_end})")

    @admin.display(description="statement lines")
    def statement_lines(self, obj: Payout) -> str:
        matches = LineMatch.objects.filter(payout=obj).select_related("line").order_by("pk")
        return (
            format_html_join(
                ", ",
                "{}",
                ((change_link(m.line, f"statement line {m.line_id} ({m.rule})"),) for m in matches),
            )
            or "not matched to a bank statement yet"
        )

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
        money_column("amount_minor", label="Amount"),
        money_column("reserve_minor", label="Reserve"),
        "due_at",
        "matured_at",
    )
    list_filter = ("currency", ("matured_at", admin.EmptyFieldListFilter))
    search_fields = ("=release_transfer_id", "seller__email")
    list_select_related = ("seller",)
    date_hierarchy = "due_at"
    ordering = ("-due_at",)
    readonly_fields = ("amount", "reserve", "transfers")

    amount = money_column("amount_minor", label="Amount")
    reserve = money_column("reserve_minor", label="Reserve")

    @admin.display(description="ledger transfers")
    def transfers(self, obj: HeldRelease) -> str:
        release = format_html(
            '<a href="{}">the release</a>',
            reverse("admin:ledger_transfer_change", args=[obj.release_transfer_id]),
        )
        matured = format_html(
            '<a href="{}?reference=release:{}">its maturation</a>',
            reverse("admin:ledger_transfer_changelist"),
            obj.release_transfer_id,
        )
        return format_html("{}, {}", release, matured)


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
        money_column("source_minor", label="Source", currency_field="source_currency"),
        money_column("target_minor", label="Target", currency_field="target_currency"),
        money_column("spread_minor", label="Spread", currency_field="target_currency"),
        "fx_rate",
    )
    list_filter = ("source_currency", "target_currency")
    search_fields = ("=id", "seller__email")
    raw_id_fields = ("fx_rate",)
    list_select_related = ("seller", "fx_rate")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    """Issued receipts: what was signed and when (the bytes themselves are in the ledger's log)."""

    list_display = ("id", "sub_order", "sequence", "status", "key_id", "issued_at")
    list_filter = ("status", ("issued_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=sha256", "sub_order__order__number")
    raw_id_fields = ("sub_order",)
    exclude = ("body", "signature")
    list_select_related = ("sub_order__order",)
    date_hierarchy = "issued_at"
    ordering = ("-issued_at",)


@admin.register(Acknowledgement)
class AcknowledgementAdmin(ReadOnlyAdmin):
    """Acknowledgements of paid payouts; the disputed ones are the cases for staff, resolved with
    POST /api/v1/acknowledgements/<id>/resolve (settlement.confirmations.services.case_resolve)."""

    list_display = ("id", "side", "payout", "sub_order", "party", "state", "answer", "due_at")
    list_filter = ("state", "side", "answer")
    search_fields = ("=id", "=payout__id", "party__email")
    exclude = ("statement", "signature")
    list_select_related = ("payout", "sub_order__order", "party")
    date_hierarchy = "due_at"
    ordering = ("-due_at",)


@admin.register(ConfirmationRecord)
class ConfirmationRecordAdmin(ReadOnlyAdmin):
    list_display = ("id", "sub_order", "sequence", "sha256", "created_at")
    search_fields = ("=id", "=sha256")
    exclude = ("body",)
    list_select_related = ("sub_order__order",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)


@admin.register(PayoutEvent)
class PayoutEventAdmin(ReadOnlyAdmin):
    """Every payout's history in one list: the states reached and the bank's contradicting
    answers ("contradiction": a case for staff)."""

    list_display = ("created_at", "payout", "kind")
    list_filter = ("kind",)
    search_fields = ("=payout__id", "payout__seller__email")
    date_hierarchy = "created_at"
    list_select_related = ("payout",)
    ordering = ("-created_at", "-id")
    fields = ("created_at", "payout", "kind", "data")
    readonly_fields = fields


@admin.register(BankCallbackReceipt)
class BankCallbackReceiptAdmin(ReadOnlyAdmin):
    """The bank's callbacks already acted on, by their webhook id (a repeat is ignored)."""

    list_display = ("callback_id", "kind", "received_at")
    list_filter = ("kind",)
    search_fields = ("=callback_id",)
    date_hierarchy = "received_at"
    ordering = ("-received_at",)
    fields = ("callback_id", "kind", "received_at", "payload")
    readonly_fields = fields


# The seller dashboard's daily totals and its cursor.
from settlement.dashboard import admin as dashboard_admin  # noqa: E402, F401

# Reconciliation: statements, lines, the work queue, adjustments, the audit trail.
from settlement.reconciliation import admin as reconciliation_admin  # noqa: E402, F401
