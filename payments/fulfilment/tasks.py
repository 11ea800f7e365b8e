"""Beat tasks of seller acceptance (thin: the work is in the services; both idempotent, bounded).

Beat entries (config/settings/base.py CELERY_BEAT_SCHEDULE):
    "payments-expire-acceptance":      {"task": "payments.expire_acceptance", "schedule": 60.0}
    "payments-settle-sub-order-holds": {"task": "payments.settle_sub_order_holds", "schedule": 60.0}
"""

from __future__ import annotations

import logging

from celery import shared_task

from payments.orders.tasks import SWEEP_TASK_OPTIONS

__all__ = ["expire_acceptance", "settle_sub_order_holds"]

logger = logging.getLogger(__name__)


@shared_task(name="payments.expire_acceptance", **SWEEP_TASK_OPTIONS)
def expire_acceptance() -> int:
    """Sub-orders past accept_by: rejected (order.acceptance_expired), money released, restocked."""
    from payments.fulfilment.acceptance import acceptance_expire_due

    count = acceptance_expire_due(limit=200)
    if count:
        logger.info("payments.expire_acceptance: %d sub-orders released", count)
    return count


@shared_task(name="payments.settle_sub_order_holds", **SWEEP_TASK_OPTIONS)
def settle_sub_order_holds() -> dict:
    """Re-drive per-sub-order captures/releases whose provider call failed or was lost (order
    documents have their own sweep: payments.document_tasks)."""
    from payments.flows.sub_order_money import sub_order_holds_settle

    counts = sub_order_holds_settle(limit=200)
    if any(counts.values()):
        logger.info("payments.settle_sub_order_holds: %s", counts)
    return counts
