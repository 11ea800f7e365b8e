"""The hand-over of committed order events to the task that fans them out.

The fan-out (payments.dispatch.tasks.dispatch_order_events: seal the paid orders' documents, then
webhooks and emails) stands above every sub-package, while orders records the events at the
bottom. PaymentsConfig.ready() hands the task over here, so that orders publishes it without
importing the layers above; `dispatch_task()` fails loudly if nothing was handed over.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

_dispatch_task: Any = None


def set_dispatch_task(task: Any) -> None:
    """The Celery task taking a list of OrderEvent ids (called once, from the app's ready())."""
    global _dispatch_task  # set once at start-up, read on every publish
    _dispatch_task = task


def dispatch_task() -> Any:
    if _dispatch_task is None:
        raise ImproperlyConfigured("payments: no order event dispatch task (PaymentsConfig.ready)")
    return _dispatch_task
