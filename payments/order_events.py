"""Record what happened to an order, once, in the caller's transaction; fan it out after commit.

    record_order_event(order=..., sub_order=..., kind="order.accepted", actor="seller:7", data={...})

writes an OrderEvent (the order page's timeline) and, on commit, enqueues
`payments.dispatch_order_event` with its id. The dispatcher (webhooks side) turns it into one
webhook delivery per subscribed endpoint of the sellers concerned and the emails to buyer and
seller, and stamps `dispatched_at`; a sweeper re-drives events left undispatched.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from payments.lifecycle_models import OrderEvent

# Webhook event types (Standard Webhooks "type"); the timeline shows every one of them.
PAYMENT_AUTHORIZED = "payment.authorized"
PAYMENT_FAILED = "payment.failed"
PAYMENT_CAPTURED = "payment.captured"
ORDER_PAID = "order.paid"
ORDER_SEALED = "order.sealed"
ORDER_ACCEPTED = "order.accepted"
ORDER_REJECTED = "order.rejected"
ORDER_ACCEPTANCE_EXPIRED = "order.acceptance_expired"
ORDER_SHIPPED = "order.shipped"
ORDER_CONFIRMED = "order.confirmed"
ORDER_AUTO_CONFIRMED = "order.auto_confirmed"
ORDER_RELEASED = "order.released"
DISPUTE_OPENED = "dispute.opened"
DISPUTE_RESOLVED = "dispute.resolved"
REFUND_CREATED = "refund.created"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_FAILED = "refund.failed"

EVENT_TYPES: tuple[str, ...] = (
    PAYMENT_AUTHORIZED,
    PAYMENT_FAILED,
    PAYMENT_CAPTURED,
    ORDER_PAID,
    ORDER_SEALED,
    ORDER_ACCEPTED,
    ORDER_REJECTED,
    ORDER_ACCEPTANCE_EXPIRED,
    ORDER_SHIPPED,
    ORDER_CONFIRMED,
    ORDER_AUTO_CONFIRMED,
    ORDER_RELEASED,
    DISPUTE_OPENED,
    DISPUTE_RESOLVED,
    REFUND_CREATED,
    REFUND_SUCCEEDED,
    REFUND_FAILED,
)


def _enqueue_dispatch(event_id: int) -> None:
    from payments.tasks import dispatch_order_event

    dispatch_order_event.delay(event_id)


def record_order_event(
    *,
    order,
    kind: str,
    actor: str,
    sub_order=None,
    data: dict[str, Any] | None = None,
) -> OrderEvent:
    """Append one event (inside the caller's transaction) and dispatch it after commit.

    `data` must be JSON-safe and public to the order's parties: ids, amounts in minor units,
    statuses, reasons. Never a PAN, a CVC or a secret.
    """
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown order event type {kind!r}")
    event = OrderEvent.objects.create(
        order_id=order.pk,
        sub_order_id=getattr(sub_order, "pk", sub_order),
        kind=kind,
        actor=actor[:64],
        data=data or {},
    )
    # robust: a broker outage must not turn a committed step into an error for the caller; the
    # webhook sweeper dispatches events left undispatched.
    transaction.on_commit(lambda: _enqueue_dispatch(event.pk), robust=True)
    return event


def dispatch_after_commit(event_ids: list[int]) -> None:
    """Dispatch events written by SQL (the payment fast path) after the current transaction
    commits (at once outside one), as record_order_event does for the events it writes."""
    for event_id in event_ids:
        transaction.on_commit(lambda event_id=event_id: _enqueue_dispatch(event_id), robust=True)
