"""Order lifecycle tasks. `dispatch_order_event` fans one OrderEvent out to webhooks and emails.

The webhooks side replaces the body of `dispatch_order_event` (see payments.order_events); until
then it only stamps the event dispatched.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

__all__ = ["dispatch_order_event"]


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
    from payments.lifecycle_models import OrderEvent

    OrderEvent.objects.filter(pk=event_id, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now()
    )
