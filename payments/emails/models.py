"""The lifecycle's email log: one row per (event, recipient), or per (topic, recipient) for a
seller-level email (a payout's outcome), so nothing re-dispatched mails anyone twice.
"""

from __future__ import annotations

from django.db import models


class EmailNotification(models.Model):
    """One email sent about one event (or topic) to one address (the idempotency record)."""

    # What the email is about: an order event, or (seller-level emails) a topic.
    event = models.ForeignKey(
        "payments.OrderEvent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="email_notifications",
    )
    topic = models.CharField(max_length=80, blank=True, default="")
    recipient = models.EmailField()
    role = models.CharField(max_length=16)  # "buyer" | "seller"
    subject = models.CharField(max_length=255)
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "recipient"], name="emailnotification_once"),
            models.UniqueConstraint(
                fields=["topic", "recipient"],
                condition=~models.Q(topic=""),
                name="emailnotification_topic_once",
            ),
            models.CheckConstraint(
                condition=models.Q(event__isnull=False, topic="")
                | models.Q(event__isnull=True) & ~models.Q(topic=""),
                name="emailnotification_event_or_topic",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} to {self.recipient}"
