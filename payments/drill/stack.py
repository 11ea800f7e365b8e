"""The drill's processes, all real and all its own, on the run's database and Redis queue:

    web      gunicorn serving the platform (2 workers, 30 s timeout, as in production)
    worker   `celery -A config worker` (prefork, late acks)
    beat     `celery -A config beat`: the sweepers on their normal schedule (payments.recover_stale
             every 20 s, payments.expire_due every minute, ...)

Each process's database connections carry an application_name of the run ("pdrill-<token>-web"
...), which is how the faults find the backends to kill and spare this process's own.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings

from core.processes import (
    Child,
    Supervisor,
    free_port,
    http_status,
    purge_celery_queue,
    wait_until,
)
from payments.drill.database import url_for

BASE_DIR = Path(settings.BASE_DIR)
START_LIMIT_S = 120


class Stack:
    def __init__(
        self, *, database: dict, token: str, log_dir: Path, say: Callable[[str], None]
    ) -> None:
        self.database = database
        self.token = token
        self.log_dir = log_dir
        self.say = say
        self.queue = f"clearhouse-pdrill-{token}"
        self.application_prefix = f"pdrill-{token}-"
        self.base_url = f"http://127.0.0.1:{free_port()}"
        self.supervisor = Supervisor()
        self.web: Child | None = None
        self.worker: Child | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[Stack]:
        """Web answering, worker and beat started; all stopped and the queue removed on the way
        out, however it is left."""
        with self.supervisor, self._own_queue():
            self._start_web()
            self.worker = self._child("worker", self._worker_command())
            self._child("beat", self._beat_command())
            yield self

    def restart_the_dead(self) -> None:
        for child in self.supervisor.children.values():
            if child.died():
                self.say(f"{child.name} died; restarting it")
                child.start()

    @property
    def restarts(self) -> int:
        return sum(child.starts - 1 for child in self.supervisor.children.values())

    def _env(self, name: str) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "config.settings.local"
            ),
            "DJANGO_DEBUG": "False",  # errors answered as in production (503s, not debug pages)
            "DATABASE_URL": url_for(self.database, f"{self.application_prefix}{name}"),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            # The drill is about faults, not rate limits: card payments are "sensitive" (30/min).
            "API_THROTTLE_SENSITIVE": "1000000/min",
            "API_THROTTLE_USER": "1000000/min",
            "PYTHONUNBUFFERED": "1",
        }

    def _child(self, name: str, command: list[str]) -> Child:
        child = self.supervisor.add(
            Child(name, command, self._env(name), BASE_DIR, self.log_dir / f"{name}.log")
        )
        child.start()
        return child

    def _start_web(self) -> None:
        command = [
            *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
            *("--bind", self.base_url.split("//")[1], "--workers", "2", "--timeout", "30"),
            *("--graceful-timeout", "2", "--log-level", "warning"),
        ]
        self.web = self._child("web", command)
        wait_until(
            lambda: http_status(f"{self.base_url}/healthz", timeout_s=5) is not None,
            child=self.web,
            timeout_s=START_LIMIT_S,
            what="the platform's web server",
        )

    def _worker_command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork"),
            "--concurrency=2",
            f"--queues={self.queue}",
            f"--hostname=pdrill-{self.token}@%h",
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"),
        ]

    def _beat_command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"),
            f"--pidfile={self.log_dir / 'beat.pid'}",
            f"--schedule={self.log_dir / 'beat-schedule'}",
        ]

    @contextlib.contextmanager
    def _own_queue(self) -> Iterator[None]:
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                purge_celery_queue(self.queue)
