"""Health of the parts /healthz reports on. Owner: API-base work (stub)."""

import time
from pathlib import Path

from django.conf import settings


def write_worker_heartbeat() -> None:
    path = Path(settings.WORKER_HEARTBEAT_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(time.time()))
