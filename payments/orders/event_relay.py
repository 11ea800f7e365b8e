"""The transactional outbox relay for order events.

OrderEvent rows are written in the same transaction as the change they record, so they are the
outbox. With settings.ORDER_EVENTS_RELAY the web process publishes nothing for them (no Celery
publish per payment on the request path); `manage.py relay_order_events` polls for events that
are neither relayed nor dispatched, stamps them `relayed_at` and hands them to
`payments.dispatch_order_events` tasks in batches. Without the setting, events are published on
commit by payments.orders.events (the default for `make run` and the tests).

Safe with several relays at once: each claims its rows with FOR UPDATE SKIP LOCKED (PostgreSQL),
so an event is handed over once. Publishing follows the commit: if the broker is down the events
stay stamped but undispatched, and the webhook sweeper re-drives them after a minute, as it does
for a lost dispatch message.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments.orders.fanout import dispatch_task
from payments.orders.models import OrderEvent

logger = logging.getLogger(__name__)

# Events per relay round (one UPDATE) and per dispatch task (a task's work stays short and
# several workers share a burst).
RELAY_BATCH = 500
TASK_CHUNK = 100


def relay_enabled() -> bool:
    return bool(getattr(settings, "ORDER_EVENTS_RELAY", False))


def relay_order_events_once(*, limit: int = RELAY_BATCH, chunk: int = TASK_CHUNK) -> list[int]:
    """Claim up to `limit` waiting events (oldest first), stamp them and publish their dispatch
    tasks after commit; returns the ids claimed."""
    with transaction.atomic():
        ids = list(
            OrderEvent.objects.filter(relayed_at__isnull=True, dispatched_at__isnull=True)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        OrderEvent.objects.filter(pk__in=ids).update(relayed_at=timezone.now())
        transaction.on_commit(lambda: _publish(ids, chunk))
    return ids


def _publish(ids: list[int], chunk: int) -> None:
    dispatch_order_events = dispatch_task()
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        try:
            dispatch_order_events.delay(part)
        except Exception:  # the broker: the sweeper re-drives these (they stay undispatched)
            logger.exception("relay: publishing %d order events failed", len(part))


def undispatched_event_ids(
    *, older_than: dt.timedelta = dt.timedelta(minutes=1), limit: int = 500
) -> list[int]:
    return list(
        OrderEvent.objects.filter(
            dispatched_at__isnull=True, created_at__lte=timezone.now() - older_than
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
