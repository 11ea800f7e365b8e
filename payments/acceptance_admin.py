"""Admin: sealed order documents, read-only (made by the platform at payment, never edited)."""

from __future__ import annotations

from django.contrib import admin

from payments.order_document_models import SealedOrderDocument


@admin.register(SealedOrderDocument)
class SealedOrderDocumentAdmin(admin.ModelAdmin):
    list_display = ("sub_order", "sha256", "seller_key", "sealed_at", "created_at")
    search_fields = ("sha256", "sub_order__order__number")
    readonly_fields = (
        "sub_order",
        "version",
        "canonical_document",
        "sha256",
        "seller_key",
        "sealed_at",
        "created_at",
    )
    exclude = ("sealed",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
