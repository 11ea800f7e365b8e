"""Fulfilment's Celery tasks: thin (the work is in the services), idempotent, bounded.

    payments.expire_acceptance         beat: sub-orders past accept_by are rejected, money released
    payments.settle_sub_order_holds    beat: re-drive per-sub-order captures/releases; refund a
                                       declined part a capture took all the same
    payments.seal_order_documents      make and seal an order's documents (seal_after_commit;
                                       paying itself seals through the dispatch of order.paid)
    payments.order_documents_sweep     beat: documents a lost task left unmade, and documents
                                       waiting for a seller's key
    payments.refund_execute            pay a pending refund back at the provider
    payments.refunds_sweep             beat: re-drive refunds still pending

Beat entries: config/settings/base.py CELERY_BEAT_SCHEDULE.
"""

from __future__ import annotations

import logging

from celery import shared_task

from payments.flows.sub_order_money import sub_order_holds_settle
from payments.fulfilment.documents import (
    order_documents_make,
    order_documents_make_missing,
    order_documents_seal_due,
)
from payments.fulfilment.refund_outcomes import refund_process, refunds_redrive_pending
from payments.fulfilment.refunds import refund_declined_captured_due
from payments.fulfilment.rejection import acceptance_expire_due
from payments.providers.base import ProviderUnavailable
from payments.task_options import RETRYING_TASK_OPTIONS, SWEEP_TASK_OPTIONS

logger = logging.getLogger(__name__)


@shared_task(name="payments.expire_acceptance", **SWEEP_TASK_OPTIONS)
def expire_acceptance() -> int:
    """Sub-orders past accept_by: rejected (order.acceptance_expired), money released, restocked."""
    count = acceptance_expire_due(limit=200)
    if count:
        logger.info("payments.expire_acceptance: %d sub-orders released", count)
    return count


@shared_task(name="payments.settle_sub_order_holds", **SWEEP_TASK_OPTIONS)
def settle_sub_order_holds() -> dict:
    """Re-drive per-sub-order captures/releases whose provider call failed or was lost, and give
    back a declined part that a capture took all the same (order documents have their own sweep:
    payments.order_documents_sweep)."""
    counts = sub_order_holds_settle(limit=200)
    counts["refunded"] = refund_declined_captured_due(limit=200)
    if any(counts.values()):
        logger.info("payments.settle_sub_order_holds: %s", counts)
    return counts


@shared_task(name="payments.seal_order_documents", max_retries=10, **RETRYING_TASK_OPTIONS)
def seal_order_documents(order_id: str) -> int:
    """Idempotent (one document per sub-order), so any error is retried with backoff; the sweeper
    and the readers cover a task that never succeeds. Returns how many documents it made."""
    return order_documents_make(order_id=order_id)


@shared_task(name="payments.order_documents_sweep", **SWEEP_TASK_OPTIONS)
def order_documents_sweep() -> dict[str, int]:
    """Bounded: at most 200 documents made and 200 sellers' waiting documents sealed per run."""
    counts = {
        "made": order_documents_make_missing(limit=200),
        "sealed": order_documents_seal_due(limit=200),
    }
    if any(counts.values()):
        logger.info("payments.order_documents_sweep: %s", counts)
    return counts


def refund_backoff_s(retries: int) -> int:
    """10, 20, 40, ... seconds, capped at 15 minutes."""
    return min(10 * 2**retries, 900)


@shared_task(
    bind=True, name="payments.refund_execute", acks_late=True, max_retries=8, ignore_result=True
)
def refund_execute(self, refund_id: str) -> None:
    """Ask the provider to pay a pending refund back; a provider that is down is retried with
    backoff (same idempotency key), and the sweeper re-drives it after the retries run out."""
    try:
        refund_process(refund_id=refund_id)
    except ProviderUnavailable as exc:
        raise self.retry(countdown=refund_backoff_s(self.request.retries)) from exc


@shared_task(name="payments.refunds_sweep", acks_late=True, ignore_result=True)
def refunds_sweep() -> int:
    return refunds_redrive_pending()
