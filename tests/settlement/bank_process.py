"""A real sandbox bank process for tests, and an inbox that receives its callbacks.

`sandbox_bank` (session-scoped) starts `manage.py run_sandbox_bank` on a free port with a fresh
SQLite file, the test settings' keys, near-zero settling and retry delays, and its callbacks sent
to an in-process HTTP inbox; it is stopped (SIGTERM, then SIGKILL of its process group) when the
session ends. Tests that use it carry the `sandbox_bank` marker and run in one xdist group, so
one pytest worker starts one bank. Import the fixtures into a test module or a conftest.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent
STARTUP_LIMIT_S = 60
SHUTDOWN_LIMIT_S = 10
# Fast enough for a test suite, slow enough that "accepted" is observable for a moment.
TEST_BANK_ENV = {
    "SANDBOX_BANK_SETTLE_DELAY_MS": "0",
    "SANDBOX_BANK_RETURN_DELAY_MS": "50",
    "SANDBOX_BANK_CALLBACK_RETRY_BASE_MS": "20",
    "SANDBOX_BANK_CALLBACK_RETRY_MAX_MS": "200",
    "SANDBOX_BANK_HANG_MS": "1500",
    "SANDBOX_BANK_SEED": "20",
    # One callback a request: the contract tests read each by itself. Batches of callbacks have
    # their own tests (test_bank_callback_batches.py); the drill runs with them on.
    "SANDBOX_BANK_CALLBACK_BATCH": "1",
}
# Every knob back to "well behaved" (what each test starts from).
CALM_KNOBS = {
    "latency_ms": 0,
    "timeout_rate": 0.0,
    "error_rate": 0.0,
    "duplicate_callbacks_rate": 0.0,
    "drop_callbacks_rate": 0.0,
    "return_after_paid_rate": 0.0,
    "settle_delay_ms": 0,
}


@dataclass(frozen=True)
class ReceivedCallback:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class CallbackInbox:
    """Receives the bank's callbacks over HTTP; answers 200, or 500 for the next `fail_next`."""

    server: ThreadingHTTPServer | None = None
    received: list[ReceivedCallback] = field(default_factory=list)
    refused: int = 0
    fail_next: int = 0
    _condition: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}/callbacks"

    def start(self) -> None:
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with inbox._condition:
                    failing = inbox.fail_next > 0
                    if failing:
                        inbox.fail_next -= 1
                        inbox.refused += 1
                    else:
                        headers = {key.lower(): value for key, value in self.headers.items()}
                        inbox.received.append(ReceivedCallback(headers, body))
                    inbox._condition.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def wait_for(
        self,
        predicate: Callable[[ReceivedCallback], bool],
        *,
        timeout_s: float = 10,
        count: int = 1,
    ) -> list[ReceivedCallback]:
        """The first `count` received callbacks that satisfy `predicate`, waiting for them."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                matching = [item for item in self.received if predicate(item)]
                if len(matching) >= count:
                    return matching[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [item.payload.get("type") for item in self.received[-10:]]
                    raise AssertionError(
                        f"{len(matching)} of {count} expected callbacks in {timeout_s} s "
                        f"(last received: {seen})"
                    )
                self._condition.wait(remaining)

    def for_payout(self, payout_id: str, event_type: str, **kwargs) -> list[ReceivedCallback]:
        return self.wait_for(
            lambda item: (
                item.payload["type"] == event_type
                and item.payload["data"].get("payout_id") == payout_id
            ),
            **kwargs,
        )


@dataclass
class SandboxBankProcess:
    url: str
    process: subprocess.Popen
    log_path: Path
    db_path: Path
    inbox: CallbackInbox

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def gateway(self, **overrides):
        from django.conf import settings

        from settlement.gateways.sandbox import SandboxBankGateway

        options = {
            "base_url": self.url,
            "signing_key": settings.CLEARHOUSE_BANK_SIGNING_KEY,
            "webhook_secret": settings.CLEARHOUSE_BANK_WEBHOOK_SECRET,
            "timeout_s": 5.0,
            **overrides,
        }
        return SandboxBankGateway(**options)

    def operator(self):
        from django.conf import settings

        from settlement.gateways.sandbox_operator import SandboxBankOperator

        return SandboxBankOperator(
            base_url=self.url, admin_token=settings.SANDBOX_BANK_ADMIN_TOKEN, timeout_s=5.0
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_LIMIT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=SHUTDOWN_LIMIT_S)


@pytest.fixture(scope="session")
def sandbox_bank(tmp_path_factory) -> Iterator[SandboxBankProcess]:
    folder = tmp_path_factory.mktemp("sandbox_bank")
    inbox = CallbackInbox()
    inbox.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db_path = folder / "bank.sqlite3"
    log_path = folder / "bank.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PYTHONUNBUFFERED": "1",
        **TEST_BANK_ENV,
    }
    command = [
        sys.executable,
        "manage.py",
        "run_sandbox_bank",
        "--port",
        str(port),
        "--db",
        str(db_path),
        "--callback-url",
        inbox.url,
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
    bank = SandboxBankProcess(url, process, log_path, db_path, inbox)
    try:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(
                    f"the sandbox bank exited with {process.returncode}:\n{bank.log_tail()}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the sandbox bank did not answer within {STARTUP_LIMIT_S} s:\n{bank.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.1)
        yield bank
    finally:
        _stop(process)
        inbox.stop()


@pytest.fixture
def calm_bank(sandbox_bank) -> Iterator[SandboxBankProcess]:
    """The bank with every fault knob off, and off again after the test (whatever it set)."""
    operator = sandbox_bank.operator()
    operator.set_faults(**CALM_KNOBS)
    sandbox_bank.inbox.fail_next = 0
    try:
        yield sandbox_bank
    finally:
        operator.set_faults(**CALM_KNOBS)
        sandbox_bank.inbox.fail_next = 0
