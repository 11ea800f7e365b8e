"""Beat task: expire unpaid orders past their deadline.

Idempotent (each order is re-checked under its row lock) and bounded per run; a
lost run is simply done by the next one. Thin: the work is in the services.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from payments.orders.services import order_expire_unpaid

# Options of bounded, idempotent beat sweeps (also used by payments.acceptance_tasks).
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


@shared_task(name="payments.order_tasks.expire_unpaid_orders", **SWEEP_TASK_OPTIONS)
def expire_unpaid_orders() -> int:
    return order_expire_unpaid(limit=500)
