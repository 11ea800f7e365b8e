"""Release-side Celery tasks: auto-confirm (beat), refund execution, the refund sweeper (beat).

Beat entries (in config/settings/base.py CELERY_BEAT_SCHEDULE):
    "payments-auto-confirm-due": {"task": "payments.auto_confirm_due", "schedule": 60.0}
    "payments-refunds-sweep":    {"task": "payments.refunds_sweep", "schedule": 300.0}
"""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)

__all__ = ["auto_confirm_due", "refund_execute", "refunds_sweep"]


def refund_backoff_s(retries: int) -> int:
    """10, 20, 40, ... seconds, capped at 15 minutes."""
    return min(10 * 2**retries, 900)


@shared_task(name="payments.auto_confirm_due", acks_late=True, ignore_result=True)
def auto_confirm_due() -> dict:
    from payments.fulfilment.release import sub_order_auto_confirm_due

    counts = sub_order_auto_confirm_due()
    if any(counts.values()):
        logger.info("payments.auto_confirm_due: %s", counts)
    return counts


@shared_task(
    bind=True, name="payments.refund_execute", acks_late=True, max_retries=8, ignore_result=True
)
def refund_execute(self, refund_id: str) -> None:
    """Ask the provider to pay a pending refund back; a provider that is down is retried with
    backoff (same idempotency key), and the sweeper re-drives it after the retries run out."""
    from payments.fulfilment.refunds import refund_process
    from payments.providers.base import ProviderUnavailable

    try:
        refund_process(refund_id=refund_id)
    except ProviderUnavailable as exc:
        raise self.retry(countdown=refund_backoff_s(self.request.retries)) from exc


@shared_task(name="payments.refunds_sweep", acks_late=True, ignore_result=True)
def refunds_sweep() -> int:
    from payments.fulfilment.refunds import refunds_redrive_pending

    return refunds_redrive_pending()
