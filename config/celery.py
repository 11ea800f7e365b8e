"""The Celery app: JSON only, late acks, one message at a time, time limits; config from settings."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("clearhouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _prepare_and_beat(**_kwargs) -> None:
    # A worker that has just started is alive: write the heartbeat at once rather than after 10 s.
    from core.health import write_worker_heartbeat

    write_worker_heartbeat()
