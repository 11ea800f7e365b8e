"""Beat task: expire unpaid orders past their deadline.

Idempotent (each order is re-checked under its row lock) and bounded per run; a
lost run is simply done by the next one. Thin: the work is in the services.
"""

from __future__ import annotations

from celery import shared_task

from payments.orders.expiry import order_expire_unpaid
from payments.task_options import SWEEP_TASK_OPTIONS


@shared_task(name="payments.order_tasks.expire_unpaid_orders", **SWEEP_TASK_OPTIONS)
def expire_unpaid_orders() -> int:
    return order_expire_unpaid(limit=500)
