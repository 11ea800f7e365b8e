"""Order documents, made and sealed off the payment's request path.

    payments.seal_order_documents(order_id)   make and seal an order's documents (published by
                                              seal_after_commit; paying itself seals through the
                                              dispatch of its order.paid events)
    payments.order_documents_sweep()          beat: documents a lost task left unmade, and
                                              documents waiting for a seller's key

Beat entry (config/settings/base.py CELERY_BEAT_SCHEDULE):
    "payments-order-documents-sweep": {"task": "payments.order_documents_sweep", "schedule": 60.0}
"""

from __future__ import annotations

import logging

from celery import shared_task

from payments.orders.tasks import SWEEP_TASK_OPTIONS
from payments.webhooks.tasks import RETRYING_TASK_OPTIONS

logger = logging.getLogger(__name__)

__all__ = ["order_documents_sweep", "seal_order_documents"]


@shared_task(name="payments.seal_order_documents", max_retries=10, **RETRYING_TASK_OPTIONS)
def seal_order_documents(order_id: str) -> int:
    """Idempotent (one document per sub-order), so any error is retried with backoff; the sweeper
    and the readers cover a task that never succeeds. Returns how many documents it made."""
    from payments.fulfilment.documents import order_documents_make

    return order_documents_make(order_id=order_id)


@shared_task(name="payments.order_documents_sweep", **SWEEP_TASK_OPTIONS)
def order_documents_sweep() -> dict[str, int]:
    """Bounded: at most 200 documents made and 200 sellers' waiting documents sealed per run."""
    from payments.fulfilment.documents import order_documents_make_missing, order_documents_seal_due

    counts = {
        "made": order_documents_make_missing(limit=200),
        "sealed": order_documents_seal_due(limit=200),
    }
    if any(counts.values()):
        logger.info("payments.order_documents_sweep: %s", counts)
    return counts
