"""A real `celery -A config worker` for integration tests (imported into tests/conftest.py).

The worker runs against Redis (REDIS_URL) and the SAME test database pytest-django created (its name
becomes test_<name>[_gwN]): tests that use it must also use `transactional_db`, so their rows are
committed where the worker can see them. Each pytest process (xdist worker) has its own namespace
(settings.TEST_NAMESPACE): its own queue and heartbeat key, so parallel runs never take each other's
tasks. One worker per pytest process, started on first use, stopped at the end of the session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.postgresql.scratch import database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
STARTUP_LIMIT_S = 60
SHUTDOWN_LIMIT_S = 20


@dataclass(frozen=True)
class WorkerHandle:
    process: subprocess.Popen
    queue: str
    nodename: str
    log_path: Path
    database_name: str

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # warm shutdown: finish the task at hand
    try:
        process.wait(timeout=SHUTDOWN_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=SHUTDOWN_LIMIT_S)


def _wait_until_ready(handle: WorkerHandle) -> None:
    from core.health import read_worker_heartbeat

    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            pytest.fail(
                f"the Celery worker exited with {handle.process.returncode}:\n{handle.log_tail()}",
                pytrace=False,
            )
        beat = read_worker_heartbeat()
        if beat and beat.get("hostname") == handle.nodename:
            return
        time.sleep(0.2)
    _stop(handle.process)
    pytest.fail(
        f"the Celery worker was not ready within {STARTUP_LIMIT_S} s:\n{handle.log_tail()}",
        pytrace=False,
    )


def require_redis() -> None:
    from django.conf import settings

    if not settings.REDIS_URL:
        reason = "a real Celery worker needs Redis (REDIS_URL)"
        if os.environ.get("CLEARHOUSE_REQUIRE_FULL_STACK") == "1":
            pytest.fail(f"CLEARHOUSE_REQUIRE_FULL_STACK=1 but {reason}", pytrace=False)
        pytest.skip(reason)


def start_worker(
    *,
    consume: str,
    queue: str,
    nodename: str,
    log_path: Path,
    django_db_blocker,
    extra_env: dict[str, str] | None = None,
) -> WorkerHandle:
    """A real worker (prefork, 2 processes, late acks as in production) on the test database,
    consuming `consume`, ready (its heartbeat seen) when this returns. `extra_env` reaches its
    settings (a queue of its own, the sandbox bank's URL)."""
    from django.conf import settings
    from django.db import connection

    from core.health import clear_worker_heartbeat

    with django_db_blocker.unblock():
        database_name = connection.settings_dict["NAME"]
        worker_database_url = database_url(connection.settings_dict)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": worker_database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CLEARHOUSE_TEST_NAMESPACE": settings.TEST_NAMESPACE,
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    clear_worker_heartbeat()
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=prefork",
        "--concurrency=2",
        f"--queues={consume}",
        f"--hostname={nodename}",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=INFO",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    handle = WorkerHandle(process, queue, nodename, log_path, database_name)
    _wait_until_ready(handle)
    return handle


def stop_worker(handle: WorkerHandle) -> None:
    _stop(handle.process)


@pytest.fixture(scope="session")
def _celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """Start one real worker for this session. It starts idle (consuming a queue nobody
    publishes to): `celery_worker` points it at the test queue for one test at a time, so it
    never runs tasks that other tests publish."""
    from django.conf import settings

    from config.celery import app

    require_redis()
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    app.control.purge()  # anything an earlier test published to this namespace's queue
    handle = start_worker(
        consume=f"{queue}-idle",
        queue=queue,
        nodename=f"test-{settings.TEST_NAMESPACE}@{socket.gethostname()}",
        log_path=tmp_path_factory.mktemp("celery") / "worker.log",
        django_db_blocker=django_db_blocker,
    )
    try:
        yield handle
    finally:
        stop_worker(handle)
        app.control.purge()


@pytest.fixture
def celery_worker(_celery_worker_process):
    """The real worker, consuming this process's test queue for the length of one test only.

    Between such tests it consumes nothing: a transactional test that merely publishes a task
    (on commit) must not have it run by a worker in its database behind its back."""
    from config.celery import app

    handle = _celery_worker_process
    app.control.purge()  # what earlier tests published and nobody ran
    replies = app.control.add_consumer(
        handle.queue, destination=[handle.nodename], reply=True, timeout=10
    )
    if not replies:
        pytest.fail(f"the Celery worker did not start consuming:\n{handle.log_tail()}")
    try:
        yield handle
    finally:
        app.control.cancel_consumer(
            handle.queue, destination=[handle.nodename], reply=True, timeout=10
        )
        wait_until_idle(handle)


IDLE_LIMIT_S = 30


def wait_until_idle(handle: WorkerHandle) -> None:
    """Until the worker runs, holds and schedules nothing of the test's: a task still running
    when the test's database is flushed holds table locks the flush's TRUNCATE waits on while
    the task waits on the TRUNCATE's (a deadlock, seen in CI). Tasks scheduled for later (a
    retry's countdown) are revoked: they would run in the next test's database."""
    from config.celery import app

    inspect = app.control.inspect(destination=[handle.nodename], timeout=2)
    revoked: set[str] = set()
    deadline = time.monotonic() + IDLE_LIMIT_S
    while time.monotonic() < deadline:
        for entry in (inspect.scheduled() or {}).get(handle.nodename) or []:
            task_id = entry["request"]["id"]
            if task_id not in revoked:  # a revoked one is dropped when its time comes
                app.control.revoke(task_id, destination=[handle.nodename])
                revoked.add(task_id)
        busy = [
            task
            for tasks in ((inspect.active() or {}), (inspect.reserved() or {}))
            for task in tasks.get(handle.nodename) or []
            if task["id"] not in revoked
        ]
        if not busy:
            return
        time.sleep(0.1)
    pytest.fail(
        f"the Celery worker was still busy {IDLE_LIMIT_S} s after the test:\n{handle.log_tail()}"
    )
