"""Release-side Celery task: auto-confirm (beat).

Beat entries (in config/settings/base.py CELERY_BEAT_SCHEDULE):
    "payments-auto-confirm-due": {"task": "payments.auto_confirm_due", "schedule": 60.0}
"""

from __future__ import annotations

import logging

from celery import shared_task

from settlement.release.services import sub_order_auto_confirm_due

logger = logging.getLogger(__name__)


@shared_task(name="payments.auto_confirm_due", acks_late=True, ignore_result=True)
def auto_confirm_due() -> dict:
    counts = sub_order_auto_confirm_due()
    if any(counts.values()):
        logger.info("payments.auto_confirm_due: %s", counts)
    return counts
