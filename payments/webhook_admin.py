"""Admin (read-only): webhook endpoints (never their secret), deliveries with their attempt log,
and the lifecycle emails sent. Changes go through the seller's pages, the API or services."""

from __future__ import annotations

from django.contrib import admin

from payments.webhook_models import (
    EmailNotification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnly):
    list_display = ["url", "seller", "is_active", "deleted_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "seller__email", "id"]
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


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "attempted_at", "response_code", "latency_ms", "succeeded", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
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


@admin.register(EmailNotification)
class EmailNotificationAdmin(_ReadOnly):
    list_display = ["event", "recipient", "role", "subject", "sent_at"]
    search_fields = ["recipient", "event__order__number"]
