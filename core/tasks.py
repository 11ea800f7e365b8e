"""Core's tasks: the worker heartbeat, an end-to-end health check, and idempotency-key expiry."""

from __future__ import annotations

import os
import socket
import time

from celery import shared_task
from django.core.cache import cache
from django.db import connection

from core.health import write_worker_heartbeat
from core.idempotency import idempotency_keys_delete_expired


@shared_task(bind=True, name="core.tasks.heartbeat", ignore_result=True)
def heartbeat(self) -> None:
    """Sent by beat every 10 s: whichever worker runs it proves that broker and worker both work."""
    write_worker_heartbeat(source="task", hostname=self.request.hostname)


@shared_task(bind=True, name="core.tasks.healthcheck")
def healthcheck(self) -> dict:
    """Run inside a worker: reach the database and the cache, refresh the heartbeat, report back.

    Raises if the database or cache does not answer, so a caller waiting on the result sees why.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        database_ok = cursor.fetchone() == (1,)
    probe_key = f"clearhouse:healthcheck:{socket.gethostname()}:{os.getpid()}"
    probe_value = str(time.time())
    cache.set(probe_key, probe_value, timeout=60)
    cache_ok = cache.get(probe_key) == probe_value
    beat = write_worker_heartbeat(source="task", hostname=self.request.hostname)
    return {
        "status": "ok" if database_ok and cache_ok else "degraded",
        "database": database_ok,
        "database_name": str(connection.settings_dict["NAME"]),
        "cache": cache_ok,
        "hostname": beat["hostname"],
        "pid": beat["pid"],
    }


@shared_task(name="core.tasks.delete_expired_idempotency_keys")
def delete_expired_idempotency_keys() -> int:
    """Hourly from beat: idempotency keys older than IDEMPOTENCY_KEY_TTL_S."""
    return idempotency_keys_delete_expired()
