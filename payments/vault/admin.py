"""Admin (read-only): vaulted cards, never their ciphertext."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import ReadOnlyAdmin
from payments.vault.models import VaultedCard


@admin.register(VaultedCard)
class VaultedCardAdmin(ReadOnlyAdmin):
    # The ciphertext and wrapped key are deliberately not listed: nothing of the PAN is shown.
    list_display = [
        "token",
        "owner",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "key_id",
        "created_at",
        "deleted_at",
    ]
    list_filter = ["brand", "key_id"]
    search_fields = ["token", "owner__email", "last4"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    fields = [
        "token",
        "owner",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "key_id",
        "created_at",
        "deleted_at",
    ]
    readonly_fields = fields
