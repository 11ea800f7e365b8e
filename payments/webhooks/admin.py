"""Admin (read-only): webhook endpoints (never their secret), deliveries with their attempt log.
Changes go through the seller's pages, the API or services."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import ReadOnlyAdmin, ReadOnlyInline
from payments.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "seller", "is_active", "deleted_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "seller__email", "id"]
    list_select_related = ["seller"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    # The secret's ciphertext and wrapped key are left out on purpose.
    fields = [
        "id",
        "seller",
        "url",
        "description",
        "event_types",
        "is_active",
        "deleted_at",
        "secret_key_id",
        "created_at",
        "updated_at",
    ]


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["number", "attempted_at", "response_code", "latency_ms", "succeeded", "error"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_response_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event_type"]
    search_fields = ["id", "endpoint__url", "event__order__number"]
    inlines = [WebhookAttemptInline]
    list_select_related = ["endpoint"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    """Each call made to a seller's endpoint: when, what it answered, how long it took."""

    list_display = [
        "attempted_at",
        "delivery",
        "number",
        "response_code",
        "latency_ms",
        "succeeded",
        "error",
    ]
    list_filter = ["succeeded", "response_code"]
    search_fields = ["=delivery__id", "delivery__endpoint__url", "error"]
    date_hierarchy = "attempted_at"
    list_select_related = ["delivery"]
    ordering = ["-attempted_at", "-id"]
    show_full_result_count = False
    fields = [
        "delivery",
        "number",
        "attempted_at",
        "response_code",
        "latency_ms",
        "succeeded",
        "error",
    ]
    readonly_fields = fields
