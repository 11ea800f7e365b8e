"""The fan-out of order events: the tasks that stand above every other payments sub-package.

payments.dispatch_order_events(event_ids)   the events one transaction recorded (published once
                                            on its commit by payments.orders.events, or in
                                            batches by the outbox relay)
payments.dispatch_order_event(event_id)     one event (the sweeper's re-drive; also consumes
                                            messages published before the batches)
payments.webhook_sweep()                    beat: re-dispatch events whose dispatch message was
                                            lost; enqueue webhook deliveries that are due

Dispatching an event: one webhook delivery per subscribed endpoint of the sellers concerned
(payments.webhooks), the emails to buyer and sellers (payments.emails), then `dispatched_at`.
Sealing rides on the dispatch: an order.paid event's dispatch first makes and seals the order's
documents (payments.fulfilment.documents.order_documents_make, idempotent), so paying publishes
one task, not a dispatch and a sealing task. The payments.seal_order_documents task, the
documents sweeper and the readers (order_document_ensure) still cover a dispatch that is late or
lost.

orders records the events at the bottom of the layers and cannot import this module: the app's
ready() hands dispatch_order_events over to payments.orders.fanout.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from payments.emails import sending as emails
from payments.fulfilment import documents
from payments.orders.event_relay import undispatched_event_ids
from payments.orders.events import ORDER_PAID
from payments.orders.models import OrderEvent
from payments.task_options import RETRYING_TASK_OPTIONS
from payments.webhooks import deliveries as webhooks

logger = logging.getLogger(__name__)


def _seal_paid_orders(events) -> Exception | None:
    """Make and seal the documents of the orders these order.paid events paid, before the events
    fan out (the seller's webhook for order.paid finds the document made). Returns the first
    error, having tried every order: the caller dispatches anyway and then raises it (a retry)."""
    failure = None
    for order_id in dict.fromkeys(e.order_id for e in events if e.kind == ORDER_PAID):
        try:
            documents.order_documents_make(order_id=order_id)
        except Exception as exc:
            logger.warning("dispatch: sealing order %s failed, to be retried: %r", order_id, exc)
            failure = failure or exc
    return failure


def _dispatch(event) -> None:
    """One webhook delivery per subscribed endpoint of the sellers concerned, the emails to buyer
    and sellers, then `dispatched_at`. Safe to run again: deliveries are unique per (endpoint,
    event) and emails per (event, recipient)."""
    with transaction.atomic():
        webhooks.webhook_dispatch_event(event)
    emails.send_event_emails(event)
    OrderEvent.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now()
    )


@shared_task(name="payments.dispatch_order_event", max_retries=10, **RETRYING_TASK_OPTIONS)
def dispatch_order_event(event_id: int) -> None:
    """Dispatch one event (see _dispatch); an id with no row is skipped."""
    event = OrderEvent.objects.select_related("order", "sub_order").filter(pk=event_id).first()
    if event is None:
        logger.warning("dispatch: no order event %s", event_id)
        return
    failure = _seal_paid_orders([event])
    _dispatch(event)
    if failure is not None:
        raise failure


@shared_task(name="payments.dispatch_order_events", max_retries=10, **RETRYING_TASK_OPTIONS)
def dispatch_order_events(event_ids: list[int]) -> int:
    """Dispatch the events of one transaction, oldest first; returns how many were dispatched.

    An id with no row was rolled back with a savepoint after it was recorded: skipped. Events
    already stamped `dispatched_at` are skipped too (a retry of this task, or the sweeper was
    first). One event failing does not hold up the others: the task is retried (backoff) after
    the rest went out, and the retry only finds what is still undispatched.
    """
    wanted = {int(event_id) for event_id in event_ids}
    found = list(
        OrderEvent.objects.select_related("order", "sub_order").filter(pk__in=wanted).order_by("pk")
    )
    # Sealing first, also for events already dispatched (a retry after sealing failed).
    failure = _seal_paid_orders(found)
    events = [event for event in found if event.dispatched_at is None]
    if len(events) < len(wanted):
        logger.debug(
            "dispatch: %d of %d order events absent or already dispatched",
            len(wanted) - len(events),
            len(wanted),
        )
    for event in events:
        try:
            _dispatch(event)
        except Exception as exc:
            logger.warning("dispatch: order event %s failed, to be retried: %r", event.pk, exc)
            failure = failure or exc
    if failure is not None:
        raise failure
    return len(events)


@shared_task(name="payments.webhook_sweep", acks_late=True, ignore_result=True)
def webhook_sweep() -> dict[str, int]:
    """Re-dispatch events whose dispatch message was lost; enqueue deliveries that are due."""
    events = undispatched_event_ids()
    for event_id in events:
        dispatch_order_event.delay(event_id)
    deliveries = webhooks.webhook_enqueue_due()
    if events or deliveries:
        logger.info(
            "webhooks sweep: %d events re-dispatched, %d deliveries enqueued",
            len(events),
            len(deliveries),
        )
    return {"events": len(events), "deliveries": len(deliveries)}
