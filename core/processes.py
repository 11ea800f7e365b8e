"""Child processes for the drills (settlement and payments): each the leader of its own session
(so one SIGKILL of its group takes the process and all its children, and a Ctrl-C at the terminal
reaches only the drill), its output in a log file, restartable, and all of them killed when the
drill ends however it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STOP_GRACE_S = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_status(url: str, *, timeout_s: float = 1.0) -> int | None:
    """The HTTP status `url` answers a GET with, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - our own URL
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@dataclass
class Child:
    """One supervised process (a Celery worker, the web server, the bank)."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    log_path: Path
    process: subprocess.Popen | None = None
    starts: int = 0
    deaths: int = 0  # exits the drill did not ask for (its own kills and crash points)

    def start(self) -> None:
        self.kill()  # anything left of an earlier life (a pool child whose parent died)
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start {self.starts + 1} at {time.time():.3f} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                list(self.command),
                cwd=self.cwd,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def died(self) -> bool:
        """True once for each exit the drill did not cause by stop()."""
        if self.process is None or self.process.poll() is None:
            return False
        self.deaths += 1
        self.kill()  # the rest of its group, if the leader alone died
        self.process = None
        return True

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no acknowledgement, as a lost machine."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_GRACE_S)

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL what is left after a grace period."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_GRACE_S)
        self.kill()
        self.process = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Supervisor:
    """Every child the drill started; stop_all() is safe to call at any time, more than once."""

    children: dict[str, Child] = field(default_factory=dict)

    def add(self, child: Child) -> Child:
        self.children[child.name] = child
        return child

    def stop_all(self) -> None:
        for child in reversed(list(self.children.values())):
            try:
                child.stop()
            except Exception:  # noqa: S112 - the others must still be stopped
                continue

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()


def wait_until(
    ready: Callable[[], bool], *, child: Child, timeout_s: float, what: str, poll_s: float = 0.2
) -> None:
    """Wait for `ready()`; RuntimeError with the child's log if it exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if not child.alive():
            raise RuntimeError(f"{what} exited while starting:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{what} did not start within {timeout_s:.0f} s:\n{child.log_tail()}"
            )
        time.sleep(poll_s)


def purge_celery_queue(queue: str) -> None:
    """Delete a Redis-backed Celery queue and the unacknowledged messages kombu would restore into
    it (its hash "unacked" holds [message, exchange, routing key] per delivery tag): a drill's or a
    test stack's own queue, once its processes are gone."""
    from celery import current_app

    with current_app.connection_for_write() as connection:
        client = connection.default_channel.client
        # The queue, and its exchange's bindings (the default exchange is named after the queue).
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        for tag, raw in client.hgetall("unacked").items():
            with contextlib.suppress(ValueError, TypeError, IndexError):
                if json.loads(raw)[2] == queue:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
