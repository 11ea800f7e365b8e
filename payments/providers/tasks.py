"""The sandbox wallet's side of the wire: it POSTs its notifications to the platform from a task
(retried with backoff until acknowledged), as a real wallet's servers would."""

from __future__ import annotations

import logging

from celery import shared_task

from payments import conf
from payments.providers.sandbox_wallet import deliver_notice

logger = logging.getLogger(__name__)


def notify_backoff_s(retries: int) -> int:
    """Seconds before the next delivery attempt: 5, 10, 20, ... capped at 10 minutes."""
    return min(5 * 2**retries, 600)


@shared_task(
    bind=True,
    name="payments.sandbox_wallet_deliver_notice",
    acks_late=True,
    max_retries=None,  # bounded below by SANDBOX_WALLET_NOTIFY_MAX_RETRIES
    ignore_result=True,
)
def sandbox_wallet_deliver_notice(self, notice_id: int) -> bool:
    """The sandbox wallet POSTs one notification; retried with backoff until acknowledged."""
    if deliver_notice(notice_id=notice_id):
        return True
    max_retries = int(conf.get("SANDBOX_WALLET_NOTIFY_MAX_RETRIES"))
    if self.request.retries >= max_retries:
        logger.error(
            "sandbox wallet: notice %s not acknowledged after %d tries", notice_id, max_retries + 1
        )
        return False
    raise self.retry(countdown=notify_backoff_s(self.request.retries), max_retries=max_retries)
