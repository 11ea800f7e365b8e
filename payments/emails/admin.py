"""Admin (read-only): the lifecycle emails sent."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import ReadOnlyAdmin
from payments.emails.models import EmailNotification


@admin.register(EmailNotification)
class EmailNotificationAdmin(ReadOnlyAdmin):
    list_display = ["event", "recipient", "role", "subject", "sent_at"]
    search_fields = ["recipient", "event__order__number"]
    list_filter = ["role"]
    list_select_related = ["event"]
    date_hierarchy = "sent_at"
    ordering = ["-sent_at"]
