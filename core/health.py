"""Health of the parts /healthz reports on: the database, the broker, and a live Celery worker.

Each check returns a dict with "ok" and what it saw; failures name the exception class only (the
details go to the log, not to an unauthenticated endpoint). The worker check reads a heartbeat that
workers write into the cache (settings.WORKER_HEARTBEAT_CACHE): Redis in production, the database
cache table in the embedded setup, so web and workers on different hosts agree.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Imported here, not on the first /healthz: that import alone can eat the check's time budget.
import kombu.transport.redis  # noqa: F401
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from kombu import Connection

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "clearhouse:worker-heartbeat"


# --- Heartbeat -----------------------------------------------------------------------------------


def write_worker_heartbeat(*, source: str = "task", hostname: str | None = None) -> dict[str, Any]:
    """Record that a worker is alive now. `source`: "ready" (worker start) or "task" (beat's tick)."""
    beat = {
        "at": time.time(),
        "hostname": hostname or socket.gethostname(),
        "pid": os.getpid(),
        "source": source,
    }
    # Kept well past the max age, so a stale heartbeat reads as "stale" rather than "missing".
    timeout_s = max(settings.WORKER_HEARTBEAT_MAX_AGE_S * 20, 600)
    caches[settings.WORKER_HEARTBEAT_CACHE].set(HEARTBEAT_KEY, beat, timeout=timeout_s)
    return beat


def read_worker_heartbeat() -> dict[str, Any] | None:
    return caches[settings.WORKER_HEARTBEAT_CACHE].get(HEARTBEAT_KEY)


def clear_worker_heartbeat() -> None:
    caches[settings.WORKER_HEARTBEAT_CACHE].delete(HEARTBEAT_KEY)


# --- Checks --------------------------------------------------------------------------------------


def _failure(check: str, exc: BaseException) -> dict[str, Any]:
    # One line, no traceback: /healthz is polled every few seconds while something is down.
    logger.warning("health check %s failed: %s: %s", check, type(exc).__name__, exc)
    return {"ok": False, "error": type(exc).__name__}


def check_database() -> dict[str, Any]:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return _failure("database", exc)
    return {
        "ok": True,
        "vendor": connection.vendor,
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
    }


def _within(timeout_s: float, probe: Callable[[], None]) -> None:
    """Run `probe`, but give up waiting after timeout_s (client libraries may retry past their own
    socket timeouts; the probe's thread then ends on its own, bounded by those timeouts)."""
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            probe()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="health-broker-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout_s} s")
    if "error" in outcome:
        raise outcome["error"]


def _broker_scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0] if "://" in url else url


def _connect_broker(url: str, scheme: str, timeout_s: float) -> None:
    transport_options: dict[str, Any] = {}
    if scheme in ("redis", "rediss"):
        transport_options = {"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s}
    with Connection(url, connect_timeout=timeout_s, transport_options=transport_options) as conn:
        # One attempt, no retry loop: a health check must answer, not wait for the broker.
        conn.ensure_connection(max_retries=0, timeout=timeout_s)
        if scheme in ("redis", "rediss"):
            conn.default_channel.client.ping()


def check_broker() -> dict[str, Any]:
    """Connect to the broker with a short timeout (Redis: connect + PING; filesystem: its folders)."""
    url = settings.CELERY_BROKER_URL
    scheme = _broker_scheme(url)
    started = time.monotonic()
    try:
        if scheme == "filesystem":
            options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
            folders = {
                Path(options[name])
                for name in ("data_folder_in", "data_folder_out")
                if options.get(name)
            }
            for folder in folders:
                if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
                    raise FileNotFoundError(f"broker folder {folder} is missing or not writable")
        else:
            timeout_s = settings.HEALTH_BROKER_TIMEOUT_S
            _within(timeout_s, lambda: _connect_broker(url, scheme, timeout_s))
    except Exception as exc:
        return _failure("broker", exc)
    return {
        "ok": True,
        "transport": scheme,
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
    }


def check_worker() -> dict[str, Any]:
    max_age_s = settings.WORKER_HEARTBEAT_MAX_AGE_S
    try:
        beat = read_worker_heartbeat()
    except Exception as exc:
        return _failure("worker", exc)
    if not beat:
        return {"ok": False, "error": "no_heartbeat", "max_age_s": max_age_s}
    age_s = round(max(0.0, time.time() - float(beat["at"])), 1)
    result = {
        "ok": age_s <= max_age_s,
        "age_s": age_s,
        "max_age_s": max_age_s,
        "hostname": beat.get("hostname"),
    }
    if not result["ok"]:
        result["error"] = "stale_heartbeat"
    return result


CHECKS = {"database": check_database, "broker": check_broker, "worker": check_worker}


def run_checks() -> dict[str, Any]:
    checks = {name: check() for name, check in CHECKS.items()}
    down = [name for name, result in checks.items() if not result["ok"]]
    return {"status": "degraded" if down else "ok", "down": down, "checks": checks}
