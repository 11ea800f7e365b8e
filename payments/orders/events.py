"""Record what happened to an order, once, in the caller's transaction; fan it out after commit.

    record_order_event(order=..., sub_order=..., kind="order.accepted", actor="seller:7", data={...})

writes an OrderEvent (the order page's timeline); on commit, ONE `payments.dispatch_order_events`
task is published with the ids of all the events the transaction recorded (record_order_event,
record_order_events, dispatch_after_commit for rows written in SQL). The dispatcher
(payments.dispatch) turns each into one webhook delivery per subscribed endpoint of the sellers concerned and the
emails to buyer and seller, and stamps `dispatched_at`; a sweeper re-drives events left
undispatched (one `payments.dispatch_order_event` task each).

With settings.ORDER_EVENTS_RELAY nothing is published here: the outbox relay
(payments/orders/event_relay.py) hands the committed events over in batches.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from payments.orders.event_relay import relay_enabled
from payments.orders.fanout import dispatch_task
from payments.orders.models import OrderEvent

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
# The seller was paid the sub-order's money (recorded by settlement when a payout is paid).
ORDER_SELLER_PAID = "order.seller_paid"
# The two-sided confirmation (recorded by settlement): the buyer is asked to acknowledge the
# order's final record once its seller is paid, reminded, and told when the record is complete.
ORDER_ACK_REQUESTED = "order.acknowledgement_requested"
ORDER_ACK_REMINDER = "order.acknowledgement_reminder"
ORDER_RECORD_COMPLETED = "order.record_completed"
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
    ORDER_SELLER_PAID,
    ORDER_ACK_REQUESTED,
    ORDER_ACK_REMINDER,
    ORDER_RECORD_COMPLETED,
    DISPUTE_OPENED,
    DISPUTE_RESOLVED,
    REFUND_CREATED,
    REFUND_SUCCEEDED,
    REFUND_FAILED,
)

# Seller-level event types: about the seller's money, not one order. No OrderEvent is recorded
# for them: settlement raises them through payments.webhooks.deliveries.
# webhook_dispatch_seller_event and payments.emails.sending.send_seller_email.
PAYOUT_PAID = "payout.paid"
PAYOUT_FAILED = "payout.failed"
PAYOUT_RETURNED = "payout.returned"
# The seller is asked to acknowledge a paid payout (a signature over its statement), and reminded.
PAYOUT_ACK_REQUESTED = "payout.acknowledgement_requested"
PAYOUT_ACK_REMINDER = "payout.acknowledgement_reminder"
SELLER_EVENT_TYPES: tuple[str, ...] = (
    PAYOUT_PAID,
    PAYOUT_FAILED,
    PAYOUT_RETURNED,
    PAYOUT_ACK_REQUESTED,
    PAYOUT_ACK_REMINDER,
)


class _Batch:
    """The ids of the events recorded in one transaction, published as ONE
    `payments.dispatch_order_events` task on commit.

    Each recording registers its own on-commit callback, so Django's own bookkeeping drops the
    callbacks of events rolled back with a savepoint. The first callback that runs after commit
    publishes its events and every later one of the batch; the others find theirs published. Every
    event before it was rolled back (its callback was dropped); one after it that was rolled back
    with an inner savepoint is published too, and the dispatcher skips the missing row.
    """

    __slots__ = ("callbacks", "first", "ids")

    def __init__(self, callbacks: list) -> None:
        self.callbacks = callbacks  # the connection's run_on_commit list when last seen
        self.first = None  # the on-commit callback of the batch's first event
        self.ids: list[int | None] = []  # None: published

    def add(self, event_ids: list[int]) -> int:
        self.ids.extend(event_ids)
        return len(self.ids) - len(event_ids)

    def publish_from(self, index: int) -> None:
        if self.ids[index] is None:
            return  # an earlier callback of this commit published it
        # Each event once, in order.
        ids = list(dict.fromkeys(event_id for event_id in self.ids[index:] if event_id is not None))
        self.ids[index:] = [None] * (len(self.ids) - index)  # first: a broker error is not retried
        _enqueue_dispatch(ids)


def _batch_of(connection) -> _Batch:
    """The batch of the connection's current transaction.

    Commit, rollback and a savepoint rollback each give the connection a new run_on_commit list.
    After a savepoint rollback the list keeps the callbacks of what was not rolled back: the batch
    goes on if its first event's callback is still there (if it was dropped, so were those of all
    the batch's events: they were recorded inside the same savepoint). After commit or rollback it
    is not: a new batch starts, also for a transaction run by an on-commit callback of the last."""
    batch = getattr(connection, "_clearhouse_order_event_batch", None)
    callbacks = connection.run_on_commit
    if batch is not None and batch.callbacks is not callbacks:
        if batch.first is not None and any(func is batch.first for _, func, _ in callbacks):
            batch.callbacks = callbacks
        else:
            batch = None
    if batch is None:
        batch = _Batch(callbacks)
        connection._clearhouse_order_event_batch = batch
    return batch


def _enqueue_dispatch(event_ids: list[int]) -> None:
    dispatch_task().delay(event_ids)


def _dispatch_on_commit(event_ids: list[int]) -> None:
    """Publish one dispatch task for these events (and the others of the transaction) on commit;
    at once outside a transaction. Robust: a broker outage must not turn a committed step into an
    error for the caller; the webhook sweeper dispatches events left undispatched."""
    if not event_ids or relay_enabled():  # the outbox relay hands them over
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        ids = list(event_ids)
        transaction.on_commit(lambda: _enqueue_dispatch(ids), robust=True)  # runs now
        return
    batch = _batch_of(connection)
    index = batch.add(list(event_ids))

    def publish_order_events() -> None:
        batch.publish_from(index)

    transaction.on_commit(publish_order_events, robust=True)
    if batch.first is None:
        batch.first = publish_order_events


def _check_kind(kind: str) -> None:
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown order event type {kind!r}")


def record_order_event(
    *,
    order,
    kind: str,
    actor: str,
    sub_order=None,
    data: dict[str, Any] | None = None,
) -> OrderEvent:
    """Append one event (inside the caller's transaction) and dispatch it after commit, in the one
    dispatch task of its transaction.

    `data` must be JSON-safe and public to the order's parties: ids, amounts in minor units,
    statuses, reasons. Never a PAN, a CVC or a secret.
    """
    _check_kind(kind)
    event = OrderEvent.objects.create(
        order_id=order.pk,
        sub_order_id=getattr(sub_order, "pk", sub_order),
        kind=kind,
        actor=actor[:64],
        data=data or {},
    )
    _dispatch_on_commit([event.pk])
    return event


def record_order_events(
    *, order, actor: str, entries: list[tuple[str, Any, dict[str, Any]]]
) -> list[OrderEvent]:
    """record_order_event for several events of one order in one INSERT: `entries` are
    (kind, sub_order or None, data), written in that order."""
    for kind, _sub_order, _data in entries:
        _check_kind(kind)
    events = [
        OrderEvent(
            order_id=order.pk,
            sub_order_id=getattr(sub_order, "pk", sub_order),
            kind=kind,
            actor=actor[:64],
            data=data or {},
        )
        for kind, sub_order, data in entries
    ]
    if transaction.get_connection().features.can_return_rows_from_bulk_insert:
        OrderEvent.objects.bulk_create(events)
    else:  # the ids are needed for the dispatch
        for event in events:
            event.save(force_insert=True)
    _dispatch_on_commit([event.pk for event in events])
    return events


def dispatch_after_commit(event_ids: list[int]) -> None:
    """Dispatch events written by SQL (the payment fast path) after the current transaction
    commits (at once outside one), in the same one task as the events record_order_event wrote in
    the transaction."""
    _dispatch_on_commit(list(event_ids))
