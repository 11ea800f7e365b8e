"""Admin (payment side): payments and their events, wallet notifications, bank transfer arrivals, and a form for staff to record an incoming transfer.

Everything here is read-only: money moves only through services, and the one write (recording an
arrival) calls bank_transfer_record_arrival.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.admin_base import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    change_link,
    changelist_link,
    money_column,
    name_reference_page,
)
from core.errors import ApplicationError
from core.money import Money
from payments.flows.bank_arrivals import bank_transfer_record_arrival
from payments.flows.models import BankTransferArrival, Payment, PaymentEvent, WalletNotification
from payments.providers.rf_reference import is_valid, normalize
from payments.vault.models import token_end

name_reference_page("payment", "payments_payment")


class PaymentEventInline(ReadOnlyInline):
    model = PaymentEvent
    fields = ["created_at", "from_status", "to_status", "actor", "reason", "data"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "order",
        "method",
        "provider",
        "status",
        money_column("amount_minor", label="Amount"),
        money_column("captured_minor", label="Captured"),
        "created_at",
    ]
    list_filter = ["status", "method", "provider", "currency"]
    search_fields = ["id", "order__number", "bank_reference", "provider_reference"]
    fields = [
        "id",
        "order",
        "method",
        "provider",
        "status",
        "amount_minor",
        "currency",
        "captured_minor",
        "provider_reference",
        "bank_reference",
        "expires_at",
        "failure_code",
        "failure_message",
        "details_shown",
        "vaulted_card",
        "provider_attempts",
        "created_at",
        "updated_at",
        "order_link",
        "amount",
        "captured",
        "transfers_link",
        "statement_lines_link",
    ]
    readonly_fields = fields
    inlines = [PaymentEventInline]
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]

    amount = money_column("amount_minor", label="Amount (formatted)")

    @admin.display(description="details")
    def details_shown(self, obj):
        """The details with the card's vault token cut to its end: a payment page needs no more
        to tell cards apart, and shows no more than it needs (the vault admin lists tokens)."""
        details = dict(obj.details or {})
        card = details.get("card")
        if isinstance(card, dict) and card.get("token"):
            details["card"] = {**card, "token": token_end(str(card["token"]))}
        return json.dumps(details, indent=1, sort_keys=True)

    captured = money_column("captured_minor", label="Captured (formatted)")

    @admin.display(description="order (link)")
    def order_link(self, obj: Payment) -> str:
        return change_link(obj.order, f"order {obj.order.number}")

    @admin.display(description="ledger transfers")
    def transfers_link(self, obj: Payment) -> str:
        return changelist_link(
            "ledger_transfer", {"reference": f"payment:{obj.pk}"}, f"transfers of payment:{obj.pk}"
        )

    @admin.display(description="bank statement lines")
    def statement_lines_link(self, obj: Payment) -> str:
        return changelist_link(
            "settlement_statementline",
            {"matches__payment__id__exact": obj.pk},
            "statement lines matched to it",
        )


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnlyAdmin):
    """Every state change of every payment, append-only."""

    list_display = ["created_at", "payment", "from_status", "to_status", "actor", "reason"]
    list_filter = ["to_status", "from_status"]
    search_fields = ["=payment__id", "actor", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["payment"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    fields = ["created_at", "payment", "from_status", "to_status", "actor", "reason", "data"]
    readonly_fields = fields


@admin.register(WalletNotification)
class WalletNotificationAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "provider", "notify_id", "verified", "outcome", "payment"]
    list_filter = ["provider", "verified", "outcome"]
    search_fields = ["notify_id", "payment__id"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]
    list_select_related = ["payment"]
    fields = [
        "received_at",
        "provider",
        "notify_id",
        "verified",
        "outcome",
        "error",
        "payment",
        "params",
    ]
    readonly_fields = fields


class RecordArrivalForm(forms.Form):
    reference = forms.CharField(label="RF reference", max_length=40)
    amount = forms.CharField(label="Amount received", max_length=32, help_text="e.g. 125.50")
    currency = forms.CharField(
        label="Currency", max_length=3, min_length=3, help_text="ISO 4217, e.g. EUR"
    )
    bank_transaction_id = forms.CharField(
        label="Bank transaction id",
        max_length=128,
        help_text="The bank's own id for this credit: recording it twice changes nothing.",
    )

    def clean_reference(self) -> str:
        reference = normalize(self.cleaned_data["reference"])
        if not is_valid(reference):
            raise forms.ValidationError("This is not a valid RF reference (check the digits).")
        return reference

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean(self):
        cleaned = super().clean()
        if "amount" in cleaned and "currency" in cleaned:
            try:
                cleaned["amount_minor"] = Money.parse(
                    cleaned["amount"].strip(), cleaned["currency"]
                ).amount_minor
            except (ValueError, TypeError, ArithmeticError, ApplicationError, LookupError):
                self.add_error("amount", "Enter the amount as a number, like 125.50.")
            else:
                if cleaned["amount_minor"] <= 0:
                    self.add_error("amount", "The amount must be more than zero.")
        return cleaned


@admin.register(BankTransferArrival)
class BankTransferArrivalAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "reference",
        money_column("amount_minor", label="Amount"),
        "outcome",
        money_column("excess_minor", label="Excess"),
        "payment",
        "actor",
    ]
    list_filter = ["outcome", "currency"]
    search_fields = ["reference", "bank_transaction_id", "payment__id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    list_select_related = ["payment"]
    fields = [
        "created_at",
        "payment",
        "bank_transaction_id",
        "reference",
        "amount_minor",
        "currency",
        "outcome",
        "excess_minor",
        "actor",
    ]
    readonly_fields = fields
    change_list_template = "payments/admin/bank_arrival_changelist.html"

    def get_urls(self):
        return [
            path(
                "record/",
                self.admin_site.admin_view(self.record_view),
                name="payments_banktransferarrival_record",
            ),
            *super().get_urls(),
        ]

    def record_view(self, request):
        if not request.user.has_perm("payments.add_banktransferarrival"):
            raise PermissionDenied
        form = RecordArrivalForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = bank_transfer_record_arrival(
                    reference=data["reference"],
                    amount_minor=data["amount_minor"],
                    currency=data["currency"],
                    bank_transaction_id=data["bank_transaction_id"].strip(),
                    actor=f"staff:{request.user.pk}",
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                note = (
                    "already recorded; nothing changed"
                    if result.duplicate
                    else result.arrival.outcome
                )
                messages.success(
                    request,
                    f"Transfer {result.arrival.bank_transaction_id} for {result.arrival.reference}: "
                    f"{note}. Payment is {result.payment.status}; remaining {result.remaining_minor} "
                    f"{result.payment.currency} minor units; excess {result.arrival.excess_minor}.",
                )
                return redirect(reverse("admin:payments_banktransferarrival_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Record an incoming bank transfer",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "payments/admin/record_arrival.html", context)

    def has_add_permission(self, request, obj=None) -> bool:
        return False
