"""Admin for fulfilment, read-only: sealed order documents (made by the platform at payment, never
edited), refunds, and disputes, which two actions resolve by calling the dispute service (money
moves only through services)."""

from __future__ import annotations

from django.contrib import admin, messages

from core.admin_base import ReadOnlyAdmin, money_column, name_reference_page
from core.errors import ApplicationError
from payments.fulfilment.disputes import dispute_resolve
from payments.fulfilment.models import (
    Dispute,
    DisputeOutcome,
    DisputeStatus,
    Refund,
    SealedOrderDocument,
)

name_reference_page("refund", "payments_refund")


@admin.register(SealedOrderDocument)
class SealedOrderDocumentAdmin(ReadOnlyAdmin):
    list_display = ("sub_order", "sha256", "seller_key", "sealed_at", "created_at")
    search_fields = ("sha256", "sub_order__order__number")
    list_select_related = ("sub_order__order", "seller_key")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
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


def _staff_actor(request) -> str:
    return f"staff:{request.user.pk}"


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "sub_order",
        money_column("amount_minor", label="Amount"),
        "status",
        "source",
        "actor",
        "created_at",
    ]
    list_filter = ["status", "source", "currency"]
    search_fields = ["id", "sub_order__order__number", "payment__id", "provider_reference"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    fields = [
        "id",
        "payment",
        "sub_order",
        "amount_minor",
        "currency",
        "status",
        "source",
        "reason",
        "actor",
        "idempotency_key",
        "provider_reference",
        "failure_code",
        "failure_message",
        "attempts",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    list_select_related = ["sub_order__order"]


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "sub_order",
        "status",
        "outcome",
        "opened_by",
        "created_at",
        "resolved_at",
    ]
    list_filter = ["status", "outcome"]
    search_fields = ["sub_order__order__number", "reason"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    fields = [
        "sub_order",
        "status",
        "outcome",
        "opened_by",
        "reason",
        "resolved_by",
        "resolution_note",
        "created_at",
        "resolved_at",
    ]
    readonly_fields = fields
    actions = ["resolve_for_buyer", "resolve_for_seller"]
    list_select_related = ["sub_order__order"]

    def has_resolve_permission(self, request) -> bool:
        user = request.user
        return bool(user.is_active and (user.is_superuser or user.is_platform_staff))

    def _resolve(self, request, queryset, outcome: str) -> None:
        done = 0
        for dispute in queryset.filter(status=DisputeStatus.OPEN):
            try:
                dispute_resolve(dispute_id=dispute.pk, outcome=outcome, actor=_staff_actor(request))
                done += 1
            except ApplicationError as error:
                self.message_user(
                    request, f"Dispute {dispute.pk}: {error.message}", level=messages.ERROR
                )
        if done:
            self.message_user(request, f"{done} dispute(s) resolved.", level=messages.SUCCESS)

    @admin.action(
        description="Resolve for the buyer (refund what remains)", permissions=["resolve"]
    )
    def resolve_for_buyer(self, request, queryset) -> None:
        self._resolve(request, queryset, DisputeOutcome.BUYER)

    @admin.action(description="Resolve for the seller (release escrow)", permissions=["resolve"])
    def resolve_for_seller(self, request, queryset) -> None:
        self._resolve(request, queryset, DisputeOutcome.SELLER)
