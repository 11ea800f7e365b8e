"""Beat task: expire open checkout sessions past their deadline (idempotent: each session is
re-checked under its row lock; bounded per run; a lost run is done by the next one).

The task keeps the name it had when it lived with the order tasks: beat schedules and queued
messages carry it.
"""

from __future__ import annotations

from celery import shared_task

from payments.checkout.sessions import checkout_session_expire_due
from payments.task_options import SWEEP_TASK_OPTIONS


@shared_task(name="payments.order_tasks.expire_checkout_sessions", **SWEEP_TASK_OPTIONS)
def expire_checkout_sessions() -> int:
    return checkout_session_expire_due(limit=500)
