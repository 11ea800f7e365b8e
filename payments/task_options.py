"""Celery options shared by the payments app's tasks (every sub-package's)."""

from __future__ import annotations

from django.db import OperationalError

# Bounded, idempotent beat sweeps.
SWEEP_TASK_OPTIONS = {
    "acks_late": True,
    "ignore_result": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 3,
    "soft_time_limit": 50,
    "time_limit": 60,
}


# The fan-out tasks (payments.deliver_webhook, payments.dispatch_order_event(s),
# payments.seal_order_documents):
# idempotent, so any error is retried with backoff (5 s doubling, at most 10 min); the sweepers
# re-drive what still fails.
RETRYING_TASK_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (Exception,),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "ignore_result": True,
}
