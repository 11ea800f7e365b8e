from django.contrib import admin

from core.admin_base import ReadOnlyAdmin
from core.models import IdempotencyKey, PublishedSigningKey


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """Read-only: for answering "why did my retry get 409/422?"."""

    list_display = ["created_at", "method", "path", "key", "principal", "status", "response_status"]
    list_filter = ["status", "method"]
    search_fields = ["key", "path"]
    date_hierarchy = "created_at"
    exclude = ["response_body"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PublishedSigningKey)
class PublishedSigningKeyAdmin(ReadOnlyAdmin):
    """The platform keys published to verifiers; rows come from signing, never from here."""

    list_display = ["key_id", "algorithm", "valid_from", "valid_until"]
    search_fields = ["=key_id"]
