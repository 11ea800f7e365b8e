"""The order lifecycle's shared record: one append-only event row per thing that happened to an
order or one of its sub-orders (paid, sealed, accepted, shipped, confirmed, disputed, refunded...).

The order page shows these as the timeline; `payments.order_events.record_order_event` writes them
and, after commit, hands those of the transaction to one `payments.dispatch_order_events` task
(webhooks and emails).
"""

from __future__ import annotations

from django.db import models

__all__ = ["OrderEvent"]


class OrderEvent(models.Model):
    order = models.ForeignKey("payments.Order", on_delete=models.PROTECT, related_name="events")
    # None: the event concerns the whole order (payment.authorized, payment.failed) and so every
    # seller of the order.
    sub_order = models.ForeignKey(
        "payments.SubOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
    )
    # A webhook event type ("order.accepted", "refund.succeeded", ...) from order_events.EVENT_TYPES.
    kind = models.CharField(max_length=64)
    actor = models.CharField(
        max_length=64, help_text="buyer:<id>, seller:<id>, staff:<id>, system, provider:<name>"
    )
    # The event's public payload (what webhooks carry): ids, amounts, statuses. Never a PAN/CVC.
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Set by the dispatcher once webhooks and emails for this event have been fanned out, so the
    # sweeper can re-drive events whose dispatch message was lost.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Set by the outbox relay (payments.event_relay, with settings.ORDER_EVENTS_RELAY) when it has
    # handed the event to a dispatch task; NULL and undispatched = waiting for the relay.
    relayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["order", "created_at"], name="orderevent_order_time"),
            models.Index(
                fields=["created_at"],
                name="orderevent_undispatched",
                condition=models.Q(dispatched_at__isnull=True),
            ),
            models.Index(
                fields=["id"],
                name="orderevent_unrelayed",
                condition=models.Q(relayed_at__isnull=True, dispatched_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.order_id})"
