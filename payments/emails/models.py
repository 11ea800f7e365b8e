"""The lifecycle's email log: one row per (event, recipient), so an event re-dispatched never
mails anyone twice.
"""

from __future__ import annotations

from django.db import models


class EmailNotification(models.Model):
    """One email sent about one event to one address (the dispatcher's idempotency record)."""

    event = models.ForeignKey(
        "payments.OrderEvent", on_delete=models.PROTECT, related_name="email_notifications"
    )
    recipient = models.EmailField()
    role = models.CharField(max_length=16)  # "buyer" | "seller"
    subject = models.CharField(max_length=255)
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "recipient"], name="emailnotification_once")
        ]
