"""Order lifecycle tasks. `dispatch_order_event` fans one OrderEvent out to webhooks and emails."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from payments.webhook_tasks import RETRYING_TASK_OPTIONS

logger = logging.getLogger(__name__)

__all__ = ["dispatch_order_event"]


@shared_task(name="payments.dispatch_order_event", max_retries=10, **RETRYING_TASK_OPTIONS)
def dispatch_order_event(event_id: int) -> None:
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
