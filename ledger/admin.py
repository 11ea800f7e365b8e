"""Ledger in the admin: read-only. Money moves only through ledger.services."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import ReadOnlyAdmin
from ledger.models import Account, BalanceDelta, Transfer


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "code",
        "currency",
        "owner_ref",
        "debits_posted",
        "credits_posted",
        "debits_pending",
        "credits_pending",
        "debits_must_not_exceed_credits",
        "credits_must_not_exceed_debits",
        "created_at",
    )
    list_filter = (
        "currency",
        "debits_must_not_exceed_credits",
        "credits_must_not_exceed_debits",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("=id", "code", "owner_ref")
    ordering = ("currency", "code")


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "kind",
        "amount_minor",
        "currency",
        "debit_account",
        "credit_account",
        "reason",
        "reference",
    )
    list_filter = ("currency", "kind", "reason", ("created_at", admin.DateFieldListFilter))
    search_fields = (
        "=id",
        "=pending__id",
        "=batch_id",
        "reference",
        "debit_account__code",
        "credit_account__code",
    )
    list_select_related = ("debit_account", "credit_account")
    raw_id_fields = ("debit_account", "credit_account", "pending")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False


@admin.register(BalanceDelta)
class BalanceDeltaAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "debits_pending",
        "debits_posted",
        "credits_pending",
        "credits_posted",
    )
    list_filter = ("account__currency",)
    search_fields = ("=account__id", "account__code")
    list_select_related = ("account",)
    raw_id_fields = ("account",)
