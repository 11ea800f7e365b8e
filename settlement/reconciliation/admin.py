"""Reconciliation in the admin: statements (upload, daily report), their lines and matches, the
work queue with its actions, adjustments (with the second staff member's approval) and the audit
trail under each object. The pages only collect input: every change goes through the services
(imports, matching, actions, adjustments), which check it and audit it."""

from __future__ import annotations

import csv

from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin_base import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    mask_iban,
    masked_column,
    money_column,
    name_reference_page,
)
from core.errors import ApplicationError
from core.money import Money
from settlement.reconciliation import actions, adjustments
from settlement.reconciliation.admin_inlines import money
from settlement.reconciliation.forms import (
    AdjustmentForm,
    MatchForm,
    ReportForm,
    ResolveForm,
    UploadForm,
    show_error,
)
from settlement.reconciliation.imports import import_statement_file
from settlement.reconciliation.matching import run_matching
from settlement.reconciliation.models import (
    Adjustment,
    AdjustmentStatus,
    AuditEntry,
    BankStatement,
    LineMatch,
    StatementFile,
    StatementLine,
    WorkItem,
    WorkStatus,
)
from settlement.reconciliation.report import daily_report, report_csv_rows

FORM_TEMPLATE = "admin/reconciliation/form.html"

name_reference_page("adjustment", "settlement_adjustment")


def link(obj, text: str | None = None) -> str:
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


def _form_page(request, admin_site, title: str, form, obj=None, submit: str = "Save"):
    context = {
        **admin_site.each_context(request),
        "title": title,
        "form": form,
        "object": obj,
        "submit": submit,
    }
    return TemplateResponse(request, FORM_TEMPLATE, context)


class AuditInline(ReadOnlyInline):
    model = AuditEntry
    fields = ("created_at", "actor", "action", "before", "after", "note")
    verbose_name_plural = "Audit trail"


class MatchInline(ReadOnlyInline):
    model = LineMatch
    fields = ("kind", "rule", "payout", "payment", "refund", "amount", "detail", "matched_by")

    amount = money_column("amount_minor", label="Amount", currency_field="line__currency")


@admin.register(StatementFile)
class StatementFileAdmin(ReadOnlyAdmin):
    list_display = ("filename", "format", "size_bytes", "imported_by", "created_at")
    list_filter = ("format",)
    search_fields = ("filename", "=sha256")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)


@admin.register(BankStatement)
class BankStatementAdmin(ReadOnlyAdmin):
    list_display = (
        "statement_date",
        masked_column("account_iban", label="account"),
        "currency",
        "statement_id",
        "opening",
        "closing",
        "line_count",
        "file",
    )
    list_filter = ("currency", "statement_date")
    search_fields = ("statement_id", "=account_iban", "message_id")
    date_hierarchy = "statement_date"
    list_select_related = ("file",)
    ordering = ("-statement_date", "-id")
    change_list_template = "admin/reconciliation/statement_changelist.html"

    @admin.display(description="opening")
    def opening(self, obj):
        return money(obj.opening_minor, obj.currency)

    @admin.display(description="closing")
    def closing(self, obj):
        return money(obj.closing_minor, obj.currency)

    def get_urls(self):
        own = [
            path("upload/", self.admin_site.admin_view(self.upload), name="recon_upload"),
            path("report/", self.admin_site.admin_view(self.report), name="recon_report"),
            path("match/", self.admin_site.admin_view(self.match_now), name="recon_match"),
        ]
        return own + super().get_urls()

    def upload(self, request):
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = import_statement_file(
                    upload.read(),
                    filename=upload.name,
                    actor=f"staff:{request.user.pk}",
                    fmt=form.cleaned_data["format"],
                )
            except ApplicationError as error:
                form.add_error("file", f"Refused, nothing imported: {error.message}")
            else:
                level = messages.WARNING if not result.statements else messages.SUCCESS
                messages.add_message(request, level, result.message)
                if result.statements:
                    matched = run_matching()
                    messages.info(
                        request,
                        f"Matched {matched.matched} line(s); {matched.unmatched} unmatched.",
                    )
                return redirect("admin:settlement_bankstatement_changelist")
        return _form_page(request, self.admin_site, "Import a bank statement", form, None, "Import")

    def match_now(self, request):
        if request.method == "POST":
            matched = run_matching()
            messages.info(
                request,
                f"Matched {matched.matched} line(s); {matched.unmatched} unmatched; "
                f"{matched.work_items_opened} work item(s) opened.",
            )
        return redirect("admin:settlement_workitem_changelist")

    def report(self, request):
        form = ReportForm(request.GET or None)
        day = form.day_or_yesterday()
        rows = daily_report(day)
        if request.GET.get("format") == "csv":
            response = HttpResponse(content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="reconciliation-{day}.csv"'
            csv.writer(response).writerows(report_csv_rows(rows))
            return response
        for row in rows:
            row.display = [
                {
                    "label": check.label,
                    "bank": money(check.bank_minor, row.currency),
                    "platform": money(check.platform_minor, row.currency),
                    "difference": money(check.difference_minor, row.currency),
                    "differs": check.difference_minor != 0,
                }
                for check in row.checks
            ]
            row.closing = money(row.closing_minor, row.currency)
            row.opening = money(row.opening_minor, row.currency)
            row.queue_url = (
                reverse("admin:settlement_workitem_changelist")
                + f"?status__exact=open&currency__exact={row.currency}"
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Daily reconciliation report: {day}",
            "day": day,
            "rows": rows,
            "clean": all(row.clean for row in rows) and bool(rows),
            "form": form,
        }
        return TemplateResponse(request, "admin/reconciliation/report.html", context)


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "statement_label",
        "amount",
        "state",
        "value_date",
        "end_to_end_id",
        "creditor_reference",
        "counterparty_name",
        masked_column("counterparty_iban", label="counterparty account"),
    )
    list_filter = ("state", "currency", "status", "reversal")
    search_fields = ("=id", "end_to_end_id", "creditor_reference", "bank_reference", "remittance")
    date_hierarchy = "value_date"
    list_select_related = ("statement",)
    ordering = ("-id",)
    inlines = [MatchInline, AuditInline]
    # The counterparty's IBAN shows masked; search by the exact IBAN still finds the line.
    exclude = ("counterparty_iban",)
    readonly_fields = ("counterparty_account", "matched_to")
    # Links from a payment's or a payout's page: the lines matched to it.
    LINK_LOOKUPS = ("matches__payment__id__exact", "matches__payout__id__exact")

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in self.LINK_LOOKUPS or super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        found, duplicates = super().get_search_results(request, queryset, search_term)
        compact = "".join(search_term.split()).upper()
        if len(compact) >= 15 and compact[:2].isalpha():  # an IBAN typed in full
            found |= queryset.filter(counterparty_iban=compact)
        return found, duplicates

    @admin.display(description="statement", ordering="statement")
    def statement_label(self, obj):
        statement = obj.statement
        return (
            f"{mask_iban(statement.account_iban)} {statement.statement_id} "
            f"({statement.statement_date})"
        )

    @admin.display(description="counterparty account")
    def counterparty_account(self, obj):
        return mask_iban(obj.counterparty_iban)

    @admin.display(description="matched to")
    def matched_to(self, obj):
        matches = obj.matches.select_related("payout", "payment", "refund").order_by("pk")
        links = []
        for match in matches:
            for target, name in (
                (match.payout, "payout"),
                (match.payment, "payment"),
                (match.refund, "refund"),
            ):
                if target is not None:
                    links.append(link(target, f"{name} {target.pk}"))
        if not links:
            return "nothing yet"
        return format_html_join(", ", "{}", ((one,) for one in links))

    @admin.display(description="amount", ordering="amount_minor")
    def amount(self, obj):
        return money(obj.amount_minor, obj.currency)


@admin.register(LineMatch)
class LineMatchAdmin(ReadOnlyAdmin):
    list_display = (
        "line",
        "kind",
        "rule",
        "payout",
        "payment",
        money_column("amount_minor", label="Amount", currency_field="line__currency"),
        "matched_by",
    )
    list_filter = ("kind", "rule", "matched_by")
    search_fields = ("=line__id", "=payout__id", "=payment__id", "line__end_to_end_id")
    raw_id_fields = ("line", "payout", "payment", "refund", "adjustment")
    date_hierarchy = "created_at"
    list_select_related = ("line", "payout", "payment")
    ordering = ("-created_at", "-id")


class AdjustmentInline(ReadOnlyInline):
    model = Adjustment
    fields = ("status", "account_code", "direction", "amount_minor", "reason", "requested_by")
    show_change_link = True


@admin.register(WorkItem)
class WorkItemAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "age",
        "owner",
        "amount",
        "difference",
        "summary",
        "line_link",
        "payout_link",
    )
    list_filter = ("status", "kind", "currency", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("=id", "summary", "line__end_to_end_id", "=payout__id")
    date_hierarchy = "opened_at"
    list_select_related = ("owner", "line", "payout")
    readonly_fields = (
        "line_link",
        "payout_link",
        "payment_link",
        "statement_link",
        "actions_links",
    )
    inlines = [AdjustmentInline, AuditInline]
    actions = ["take_items", "retry_payouts"]
    ordering = ("opened_at",)

    @admin.display(description="age")
    def age(self, obj):
        end = obj.resolved_at or timezone.now()
        hours = int((end - obj.opened_at).total_seconds() // 3600)
        return f"{hours // 24}d {hours % 24}h"

    @admin.display(description="amount", ordering="amount_minor")
    def amount(self, obj):
        return money(obj.amount_minor, obj.currency)

    @admin.display(description="difference")
    def difference(self, obj):
        return money(obj.difference_minor, obj.currency) if obj.difference_minor else ""

    @admin.display(description="line")
    def line_link(self, obj):
        return link(obj.line, f"line {obj.line_id}") if obj.line_id else "-"

    @admin.display(description="payout")
    def payout_link(self, obj):
        return link(obj.payout, f"payout {obj.payout_id}") if obj.payout_id else "-"

    @admin.display(description="payment")
    def payment_link(self, obj):
        return link(obj.payment, f"payment {obj.payment_id}") if obj.payment_id else "-"

    @admin.display(description="statement")
    def statement_link(self, obj):
        return link(obj.statement, str(obj.statement)) if obj.statement_id else "-"

    @admin.display(description="actions")
    def actions_links(self, obj):
        if obj.status != WorkStatus.OPEN:
            return "resolved"
        parts = [
            (reverse("admin:recon_item_match", args=[obj.pk]), "Match by hand"),
            (reverse("admin:recon_item_adjust", args=[obj.pk]), "Create an adjustment"),
            (reverse("admin:recon_item_resolve", args=[obj.pk]), "Resolve with a note"),
        ]
        if obj.payout_id:
            parts.append((reverse("admin:recon_item_retry", args=[obj.pk]), "Retry the payout"))
        return format_html(
            " | ".join('<a href="{}">{}</a>' for _ in parts),
            *[value for pair in parts for value in pair],
        )

    def get_urls(self):
        own = [
            path(
                "<int:item_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="recon_item_resolve",
            ),
            path(
                "<int:item_id>/match/",
                self.admin_site.admin_view(self.match_view),
                name="recon_item_match",
            ),
            path(
                "<int:item_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="recon_item_adjust",
            ),
            path(
                "<int:item_id>/retry/",
                self.admin_site.admin_view(self.retry_view),
                name="recon_item_retry",
            ),
        ]
        return own + super().get_urls()

    def _back(self, item):
        return redirect("admin:settlement_workitem_change", item.pk)

    def resolve_view(self, request, item_id: int):
        item = get_object_or_404(WorkItem, pk=item_id)
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                actions.resolve(item.pk, actor=request.user, note=form.cleaned_data["note"])
            except ApplicationError as error:
                show_error(form, error)
            else:
                messages.success(request, "Resolved.")
                return self._back(item)
        return _form_page(request, self.admin_site, f"Resolve: {item}", form, item, "Resolve")

    def match_view(self, request, item_id: int):
        item = get_object_or_404(WorkItem, pk=item_id)
        initial = {
            "lines": str(item.line_id or ""),
            "payout": str(item.payout_id or ""),
            "payment": str(item.payment_id or ""),
        }
        form = MatchForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                actions.match_by_hand(
                    actor=request.user,
                    line_ids=data["lines"],
                    payout_id=data["payout"] or None,
                    payment_id=data["payment"] or None,
                    adjustment_id=data["adjustment"],
                    note=data["note"],
                )
            except ApplicationError as error:
                show_error(form, error)
            else:
                messages.success(request, "Matched.")
                return self._back(item)
        return _form_page(request, self.admin_site, f"Match by hand: {item}", form, item, "Match")

    def adjust_view(self, request, item_id: int):
        item = get_object_or_404(WorkItem, pk=item_id)
        initial = {
            "currency": item.currency,
            "amount": str(
                Money(item.difference_minor or item.amount_minor, item.currency)
                .to_decimal()
                .copy_abs()
            ),
        }
        form = AdjustmentForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                adjustment = adjustments.request_adjustment(
                    actor=request.user,
                    currency=data["currency"].upper(),
                    amount_minor=data["amount_minor"],
                    account_code=data["account_code"],
                    direction=data["direction"],
                    reason=data["reason"],
                    work_item=item,
                )
            except ApplicationError as error:
                show_error(form, error)
            else:
                if adjustment.status == AdjustmentStatus.POSTED:
                    messages.success(request, f"Adjustment {adjustment.pk} posted to the ledger.")
                else:
                    messages.warning(
                        request,
                        f"Adjustment {adjustment.pk} waits for a second staff member's approval.",
                    )
                return self._back(item)
        return _form_page(
            request, self.admin_site, f"Create an adjustment: {item}", form, item, "Create"
        )

    def retry_view(self, request, item_id: int):
        item = get_object_or_404(WorkItem, pk=item_id)
        if request.method == "POST" and item.payout_id:
            self._retry(request, item)
        return self._back(item)

    def _retry(self, request, item) -> None:
        try:
            outcome = actions.retry_payout(item.payout_id, actor=request.user, work_item_id=item.pk)
        except ApplicationError as error:
            messages.error(request, f"Payout {item.payout_id}: {error.message}")
        else:
            messages.success(request, f"Payout {item.payout_id}: {outcome}.")

    @admin.action(description="Take the selected items (become their owner)")
    def take_items(self, request, queryset):
        for item_id in queryset.values_list("pk", flat=True):
            actions.take(item_id, actor=request.user)
        messages.success(request, "Taken.")

    @admin.action(description="Retry the payouts of the selected items")
    def retry_payouts(self, request, queryset):
        for item in queryset.exclude(payout=None):
            self._retry(request, item)


@admin.register(Adjustment)
class AdjustmentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "status",
        "account_code",
        "direction",
        "amount",
        "reason",
        "requested_by",
        "approved_by",
        "created_at",
    )
    list_filter = ("status", "currency", "account_code")
    search_fields = ("=id", "reason", "=transfer_id")
    date_hierarchy = "created_at"
    list_select_related = ("requested_by", "approved_by")
    ordering = ("-created_at",)
    readonly_fields = ("work_item_link", "approve_link")
    inlines = [AuditInline]
    actions = ["approve_selected"]

    @admin.display(description="amount", ordering="amount_minor")
    def amount(self, obj):
        return money(obj.amount_minor, obj.currency)

    @admin.display(description="work item")
    def work_item_link(self, obj):
        return link(obj.work_item) if obj.work_item_id else "-"

    @admin.display(description="approval")
    def approve_link(self, obj):
        if obj.status != AdjustmentStatus.AWAITING_APPROVAL:
            return obj.get_status_display()
        url = reverse("admin:recon_adjustment_approve", args=[obj.pk])
        return format_html('<a href="{}">Approve (a second staff member)</a>', url)

    def get_urls(self):
        own = [
            path(
                "<int:adjustment_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="recon_adjustment_approve",
            )
        ]
        return own + super().get_urls()

    def approve_view(self, request, adjustment_id: int):
        adjustment = get_object_or_404(Adjustment, pk=adjustment_id)
        form = ResolveForm(request.POST if request.method == "POST" else None)  # a confirmation
        if request.method == "POST" and form.is_valid():
            try:
                adjustments.approve_adjustment(adjustment.pk, actor=request.user)
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, f"Adjustment {adjustment.pk} approved and posted.")
                return redirect("admin:settlement_adjustment_change", adjustment.pk)
        return _form_page(
            request,
            self.admin_site,
            f"Approve adjustment {adjustment.pk}: {money(adjustment.amount_minor, adjustment.currency)}"
            f" {adjustment.direction} {adjustment.account_code} ({adjustment.reason})",
            form,
            adjustment,
            "Approve",
        )

    @admin.action(description="Approve the selected adjustments")
    def approve_selected(self, request, queryset):
        for adjustment_id in queryset.values_list("pk", flat=True):
            try:
                adjustments.approve_adjustment(adjustment_id, actor=request.user)
            except ApplicationError as error:
                messages.error(request, f"Adjustment {adjustment_id}: {error.message}")
            else:
                messages.success(request, f"Adjustment {adjustment_id} approved and posted.")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "work_item", "line", "adjustment", "payout")
    list_filter = ("action", ("actor", admin.RelatedOnlyFieldListFilter))
    search_fields = ("note", "=work_item__id", "=line__id", "=adjustment__id")
    date_hierarchy = "created_at"
    raw_id_fields = ("work_item", "line", "adjustment", "payout")
    list_select_related = ("actor", "work_item", "line", "adjustment", "payout")
    ordering = ("-created_at", "-id")
