"""Payment-side Celery tasks: thin wrappers over services, idempotent, late-acked, bounded retries.

Beat entries (the lead adds them to CELERY_BEAT_SCHEDULE):
    "payments-expire-due": {"task": "payments.expire_due", "schedule": 60.0}
"""

from __future__ import annotations

import logging

from celery import shared_task

from payments.flows.capture import payment_capture_automatic as capture
from payments.flows.capture import payment_release_late_authorization
from payments.flows.expiry import payments_expire_due
from payments.providers.base import ProviderError
from payments.providers.tasks import notify_backoff_s

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="payments.release_at_provider",
    acks_late=True,
    max_retries=5,
    ignore_result=True,
)
def payment_release_at_provider(self, payment_id: str, captured: bool = False) -> None:
    """Release money a provider authorised after we had given up on the payment, or for an order
    that could no longer be paid (`captured`: a sale, refunded)."""
    try:
        payment_release_late_authorization(payment_id=payment_id, captured=captured)
    except ProviderError as exc:
        raise self.retry(countdown=notify_backoff_s(self.request.retries)) from exc


@shared_task(name="payments.expire_due", acks_late=True, ignore_result=True)
def payments_expire_due_task() -> dict:
    """Beat: expire bank transfers past their deadline, abandoned 3-D Secure challenges and
    wallet payments never approved."""
    counts = payments_expire_due()
    if any(counts.values()):
        logger.info("payments.expire_due: %s", counts)
    return counts


@shared_task(
    bind=True,
    name="payments.capture_automatic",
    acks_late=True,
    max_retries=8,
    ignore_result=True,
)
def payment_capture_automatic(self, payment_id: str) -> bool:
    """Capture an automatic-capture payment authorised outside its request (3-D Secure, wallet)
    or whose capture failed there. Idempotent: a payment already captured is left alone."""
    try:
        return capture(payment_id=payment_id)
    except ProviderError as exc:
        raise self.retry(countdown=notify_backoff_s(self.request.retries)) from exc
