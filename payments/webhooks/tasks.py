"""Celery tasks for outgoing webhooks.

    payments.deliver_webhook(delivery_id)   one attempt; schedules the next on failure

Short retry delays are scheduled as a countdown on the task itself; long ones (hours) are left to
the sweeper (payments.dispatch.tasks.webhook_sweep), which enqueues every pending delivery whose
next_attempt_at has passed (a Redis broker redelivers countdown messages longer than its
visibility timeout, so they are not used).
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task

from payments.task_options import RETRYING_TASK_OPTIONS
from payments.webhooks import deliveries

logger = logging.getLogger(__name__)


# Retries at most this far away ride on the task message; later ones wait for the sweeper.
MAX_COUNTDOWN = dt.timedelta(minutes=10)


@shared_task(name="payments.deliver_webhook", max_retries=5, **RETRYING_TASK_OPTIONS)
def deliver_webhook(delivery_id: str) -> str:
    """Attempt one delivery if it is pending and due (idempotent: otherwise nothing happens)."""
    outcome = deliveries.webhook_attempt_delivery(delivery_id)
    retry_in = outcome.retry_in
    if outcome.status == "retry" and retry_in is not None and retry_in <= MAX_COUNTDOWN:
        deliveries._enqueue(delivery_id, countdown=retry_in.total_seconds())
    return outcome.status
