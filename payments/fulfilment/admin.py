"""Admin: sealed order documents, read-only (made by the platform at payment, never edited)."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import ReadOnlyAdmin
from payments.fulfilment.models import SealedOrderDocument


@admin.register(SealedOrderDocument)
class SealedOrderDocumentAdmin(ReadOnlyAdmin):
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
