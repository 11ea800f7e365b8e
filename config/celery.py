"""The Celery app: JSON only, late acks, one message at a time, time limits; config from settings
(CELERY_* in config/settings/base.py), beat schedule from settings.CELERY_BEAT_SCHEDULE.

Works with Redis (REDIS_URL) and with the embedded filesystem:// broker (no server), whose folders
are made here so `celery -A config worker` runs on a fresh checkout.
"""

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("clearhouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_local_folders() -> None:
    """The filesystem broker and file result backend need their folders before they start."""
    from django.conf import settings

    folders = []
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        folders += [options.get(name) for name in ("data_folder_in", "data_folder_out")]
        folders.append(options.get("processed_folder"))
    backend = settings.CELERY_RESULT_BACKEND or ""
    if backend.startswith("file://"):
        folders.append(backend.removeprefix("file://"))
    for folder in filter(None, folders):
        Path(folder).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def _make_folders(sender, **_kwargs) -> None:
    ensure_local_folders()


@worker_ready.connect
def _beat_on_start(sender=None, **_kwargs) -> None:
    # A worker that has just started is alive: write the heartbeat at once, not at beat's next tick.
    from core.health import write_worker_heartbeat

    write_worker_heartbeat(source="ready", hostname=getattr(sender, "hostname", None))
