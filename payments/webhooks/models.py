"""Outgoing webhooks (Standard Webhooks).

WebhookEndpoint: a seller's URL, the event types it subscribes to and its signing secret. The
secret must be usable to sign, so it is stored encrypted (AES-256-GCM under its own data key,
wrapped by the master key ring; the endpoint's id is bound as associated data), never hashed.

WebhookDelivery: one message to one endpoint, about one OrderEvent or, for a seller-level event
(a payout paid, failed or returned: payments.orders.events.SELLER_EVENT_TYPES), about a `topic` ("payout:<id>:paid")
named by the app that raised it. Its id is the `webhook-id` header,
the same on every attempt and on a resend, so receivers can deduplicate. WebhookAttempt: the log of
every HTTP attempt.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

# Subscribing to this (or to nothing) means every event type.
ALL_EVENTS = "*"


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    # Event type names from payments.orders.events (EVENT_TYPES and SELLER_EVENT_TYPES); [] or
    # ["*"] = all of them.
    event_types = models.JSONField(default=list, blank=True)
    # The secret ("whsec_..."), AES-256-GCM under a per-endpoint data key; the data key is wrapped
    # by master key `secret_key_id`. See payments.webhooks.signing for the associated data.
    secret_key_id = models.CharField(max_length=32)
    secret_wrapped_key = models.BinaryField()
    secret_ciphertext = models.BinaryField()
    # After a roll the previous secret also signs (a second v1 signature) until this time, so a
    # receiver can switch without dropping messages; same encryption and associated data.
    previous_secret_key_id = models.CharField(max_length=32, blank=True, default="")
    previous_secret_wrapped_key = models.BinaryField(null=True, blank=True)
    previous_secret_ciphertext = models.BinaryField(null=True, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Soft delete: the row stays for the delivery log; nothing is sent to it any more.
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["seller", "-created_at"], name="webhookendpoint_seller")]

    def __str__(self) -> str:
        return self.url

    def subscribes_to(self, event_type: str) -> bool:
        types = self.event_types or []
        return not types or ALL_EVENTS in types or event_type in types

    @property
    def is_live(self) -> bool:
        return self.is_active and self.deleted_at is None


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    # The Standard Webhooks message id (`webhook-id`), stable across retries and resends.
    id = models.CharField(primary_key=True, max_length=40, default=new_message_id, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    # What the message is about: an order event, or (seller-level events) a topic.
    event = models.ForeignKey(
        "payments.OrderEvent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="webhook_deliveries",
    )
    topic = models.CharField(max_length=80, blank=True, default="")
    event_type = models.CharField(max_length=64)
    # The body sent is canonical_json(payload): the same bytes on every attempt.
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    # Attempts in all (numbering of the log) and in the current cycle (the backoff schedule);
    # a resend starts a new cycle.
    attempts = models.PositiveIntegerField(default=0)
    cycle_attempts = models.PositiveIntegerField(default=0)
    cycle_started_at = models.DateTimeField()
    # When the next attempt is due (also a short lease while one is in flight); None once final.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhookdelivery_once"),
            models.UniqueConstraint(
                fields=["endpoint", "topic"],
                condition=~Q(topic=""),
                name="webhookdelivery_topic_once",
            ),
            models.CheckConstraint(
                condition=Q(event__isnull=False, topic="") | Q(event__isnull=True) & ~Q(topic=""),
                name="webhookdelivery_event_or_topic",
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(next_attempt_at__isnull=True),
                name="webhookdelivery_due_only_if_pending",
            ),
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint"),
            # The sweeper's scan: pending deliveries that are due.
            models.Index(
                fields=["next_attempt_at"],
                name="webhookdelivery_due",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.event_type} ({self.status})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_once")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
