"""Order lifecycle tasks. `dispatch_order_event` fans one OrderEvent out to webhooks and emails."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

# The webhook tasks ride along: payments/tasks.py imports this module for Celery.
from payments.webhook_tasks import *  # noqa: F403

logger = logging.getLogger(__name__)

__all__ = ["deliver_webhook", "dispatch_order_event", "webhook_sweep"]  # noqa: F405


@shared_task(
    bind=True,
    name="payments.dispatch_order_event",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=10,
    ignore_result=True,
)
def dispatch_order_event(self, event_id: int) -> None:
    """One webhook delivery per subscribed endpoint of the sellers concerned, the emails to buyer
    and sellers, then `dispatched_at`. Safe to run again: deliveries are unique per (endpoint,
    event) and emails per (event, recipient)."""
    from payments.emails import send_event_emails
    from payments.lifecycle_models import OrderEvent
    from payments.webhook_services import webhook_dispatch_event

    event = OrderEvent.objects.select_related("order", "sub_order").filter(pk=event_id).first()
    if event is None:
        logger.warning("dispatch: no order event %s", event_id)
        return
    with transaction.atomic():
        webhook_dispatch_event(event)
    send_event_emails(event)
    OrderEvent.objects.filter(pk=event_id, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now()
    )
