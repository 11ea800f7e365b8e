"""Celery tasks for outgoing webhooks.

    payments.deliver_webhook(delivery_id)   one attempt; schedules the next on failure
    payments.webhook_sweep()                beat: re-drive lost dispatches and due deliveries

Short retry delays are scheduled as a countdown on the task itself; long ones (hours) are left to
the sweeper, which enqueues every pending delivery whose next_attempt_at has passed (a Redis
broker redelivers countdown messages longer than its visibility timeout, so they are not used).
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task

logger = logging.getLogger(__name__)

__all__ = ["deliver_webhook", "webhook_sweep"]

# Retries at most this far away ride on the task message; later ones wait for the sweeper.
MAX_COUNTDOWN = dt.timedelta(minutes=10)

# The fan-out tasks (this one, payments.dispatch_order_event(s), payments.seal_order_documents):
# idempotent, so any error is retried with backoff (5 s doubling, at most 10 min); the sweepers
# re-drive what still fails.
RETRYING_TASK_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (Exception,),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "ignore_result": True,
}


@shared_task(name="payments.deliver_webhook", max_retries=5, **RETRYING_TASK_OPTIONS)
def deliver_webhook(delivery_id: str) -> str:
    """Attempt one delivery if it is pending and due (idempotent: otherwise nothing happens)."""
    from payments.webhooks.services import _enqueue, webhook_attempt_delivery

    outcome = webhook_attempt_delivery(delivery_id)
    retry_in = outcome.retry_in
    if outcome.status == "retry" and retry_in is not None and retry_in <= MAX_COUNTDOWN:
        _enqueue(delivery_id, countdown=retry_in.total_seconds())
    return outcome.status


@shared_task(name="payments.webhook_sweep", acks_late=True, ignore_result=True)
def webhook_sweep() -> dict[str, int]:
    """Re-dispatch events whose dispatch message was lost; enqueue deliveries that are due."""
    from payments.dispatch.tasks import dispatch_order_event
    from payments.webhooks.services import _enqueue, due_delivery_ids, undispatched_event_ids

    events = undispatched_event_ids()
    for event_id in events:
        dispatch_order_event.delay(event_id)
    deliveries = due_delivery_ids()
    for delivery_id in deliveries:
        _enqueue(delivery_id)
    if events or deliveries:
        logger.info(
            "webhooks sweep: %d events re-dispatched, %d deliveries enqueued",
            len(events),
            len(deliveries),
        )
    return {"events": len(events), "deliveries": len(deliveries)}
