"""bench_settlement's p6: payouts per second from created to paid, through real Celery workers,
Redis and the sandbox bank (no latency, transfers settled at once), against Celery no-op tasks
per second on the same Redis and the same worker processes.

In the scratch database p5 leaves behind (sellers, their batches and available balances):
  1. start the sandbox bank (`manage.py run_sandbox_bank`, its own SQLite file in a temporary
     folder, a free port; latency and settle delay 0) and open each paid seller's account there;
  2. start one Celery worker (`celery -A config worker`, prefork, --workers processes, late acks,
     prefetch 1 as in production) on a queue of the run's own, with bench.settlement_noop loaded;
  3. warm up (no-op tasks until every process has run some), then time --payouts no-op tasks
     (at least MIN_NOOPS) from the first send to the last run: noop_per_s;
  4. create_payouts for as many batches (one per seller, in the seller's settlement currency, so
     each seller has one account at the bank): the workers submit them (settlement.payout_submit);
     the bank settles each at once and calls back; the callbacks reach a small receiver in this
     process that verifies them with the gateway (handle_callback) and hands each payout to the
     workers (settlement.payout_check: the bank's status, then paid, the ledger posted). From the
     commit of create_payouts to the last payout paid: payouts_per_s.
The platform's own callback endpoint is not built yet: the receiver stands in for it, and its
route through payout_check costs one bank call per payout more than applying the callback in
place would (a conservative figure).

Everything the run starts is stopped at the end; nothing outside the scratch database, the
temporary folder and the run's own Redis queue and counter is touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
MIN_NOOPS = 2_000
WARMUP_NOOPS = 200
START_LIMIT_S = 60
RUN_LIMIT_S = 600


def unavailable_reason() -> str | None:
    """Why p6 cannot run here, or None. It needs Redis, the sandbox bank and its gateway."""
    from django.conf import settings
    from django.core.management import get_commands

    if not settings.REDIS_URL:
        return "REDIS_URL is not set (p6 runs Celery workers on Redis)"
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    except Exception as exc:  # any failure to reach it says the same
        return f"Redis at REDIS_URL does not answer ({exc.__class__.__name__})"
    if "run_sandbox_bank" not in get_commands():
        return "the sandbox bank is not installed (no manage.py run_sandbox_bank)"
    try:
        import sandbox_bank  # noqa: F401

        from settlement.gateways import sandbox_operator  # noqa: F401
        from settlement.payouts.tasks import _gateway

        _gateway()
    except Exception as exc:  # ImportError, AttributeError, ImproperlyConfigured alike
        return f"the sandbox bank's gateway is not available ({exc.__class__.__name__}: {exc})"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def _wait_for(check: Callable[[], bool], *, limit_s: float, what: str, process=None) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not within {limit_s:.0f} s")


class _Receiver:
    """The bank's callbacks, verified and handed to the workers as payout checks."""

    def __init__(self, gateway) -> None:
        from settlement.payouts.tasks import payout_check

        self.received = 0
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    callback = gateway.handle_callback(headers=dict(self.headers), body=body)
                except Exception:
                    receiver.refused += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                receiver.received += 1
                if callback.transfer is not None:
                    payout_check.delay(callback.transfer.payout_id)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bank-callbacks/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run(
    *,
    url: str,
    payouts: int,
    workers: int,
    redis_url: str,
    out: Callable[[str], None],
    env: dict[str, str],
) -> dict:
    """Measure p6 in the scratch database at `url` (this process is connected to it)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-settlement-"))
    run_id = uuid.uuid4().hex[:12]
    queue = f"bench-settlement-{run_id}"
    bank_port = _free_port()
    bank_url = f"http://127.0.0.1:{bank_port}"
    child_env = {
        **env,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SANDBOX_BANK_URL": bank_url,
        "SANDBOX_BANK_LATENCY_MS": "0",
        "SANDBOX_BANK_SETTLE_DELAY_MS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    started: list[subprocess.Popen] = []
    receiver = None
    from celery import current_app

    # What this process publishes (create_payouts' submits, the receiver's checks) goes to the
    # run's own queue, which only the run's worker consumes.
    default_queue = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = queue
    try:
        from django.test import override_settings

        with override_settings(SANDBOX_BANK_URL=bank_url):
            receiver = _Receiver(_bank_gateway())
            bank = _start(
                [
                    sys.executable,
                    "manage.py",
                    "run_sandbox_bank",
                    "--port",
                    str(bank_port),
                    "--db",
                    str(folder / "bank.sqlite3"),
                    "--callback-url",
                    receiver.url,
                ],
                child_env,
                folder / "bank.log",
                started,
            )
            operator = _operator(bank_url)
            _wait_for(operator.faults, limit_s=START_LIMIT_S, what="the sandbox bank", process=bank)
            operator.set_faults(latency_ms=0, settle_delay_ms=0)
            batch_ids = _open_accounts(operator, payouts)
            out(f"  p6: sandbox bank on {bank_url}, {len(batch_ids):,} sellers' accounts opened")
            worker = _start(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--pool=prefork",
                    f"--concurrency={workers}",
                    f"--queues={queue}",
                    f"--hostname={queue}@%h",
                    "--include=bench.settlement_noop",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel=WARNING",
                ],
                child_env,
                folder / "worker.log",
                started,
            )
            counter = _Counter(redis_url, run_id)
            counter.send(WARMUP_NOOPS)
            _wait_for(
                lambda: counter.done() >= WARMUP_NOOPS,
                limit_s=START_LIMIT_S,
                what="the Celery worker",
                process=worker,
            )
            noop_per_s = counter.measure(max(MIN_NOOPS, len(batch_ids)), worker)
            out(f"  p6: {noop_per_s:,.0f} no-op tasks/s ({workers} worker processes)")
            payouts_per_s, states = _pay(batch_ids, worker)
            out(
                f"  p6: {payouts_per_s:,.1f} payouts/s created -> paid ({states}); "
                f"{receiver.received:,} callbacks"
            )
            if states.get("paid", 0) != len(batch_ids):
                raise RuntimeError(f"not every payout was paid: {states}")
            return {"payouts_per_s": payouts_per_s, "noop_per_s": noop_per_s}
    except Exception as exc:
        out(f"  p6: failed: {exc}")
        for name in ("bank.log", "worker.log"):
            with contextlib.suppress(OSError):
                tail = (folder / name).read_text(errors="replace").splitlines()[-15:]
                out(f"  {name}:\n    " + "\n    ".join(tail))
        return {"payouts_per_s": None, "noop_per_s": None, "reason": f"p6 failed: {exc}"}
    finally:
        current_app.conf.task_default_queue = default_queue
        if receiver is not None:
            receiver.stop()
        for process in reversed(started):
            _stop(process)


def _bank_gateway():
    from settlement.payouts.tasks import _gateway

    return _gateway()


def _operator(bank_url: str):
    from django.conf import settings
    from settlement.gateways.sandbox_operator import SandboxBankOperator

    return SandboxBankOperator(
        base_url=bank_url, admin_token=settings.SANDBOX_BANK_ADMIN_TOKEN, timeout_s=10.0
    )


def _start(command: list[str], env: dict, log_path: Path, started: list) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started.append(process)
    return process


def _open_accounts(operator, payouts: int) -> list:
    """One batch per seller, in the seller's settlement currency (one bank account each), and
    the seller's account at the bank."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT ON (b.seller_id) b.id, sp.iban, sp.legal_name, b.currency
              FROM settlement_settlementbatch b
              JOIN accounts_sellerprofile sp
                ON sp.user_id = b.seller_id AND sp.settlement_currency = b.currency
             ORDER BY b.seller_id
             LIMIT %s
            """,
            [payouts],
        )
        rows = cursor.fetchall()
    for _batch, iban, holder, currency in rows:
        operator.open_account(iban=iban, holder_name=holder, currency=currency)
    return [row[0] for row in rows]


class _Counter:
    """No-op tasks sent, and how many have run (their Redis counter)."""

    def __init__(self, redis_url: str, run_id: str) -> None:
        import redis

        from bench.settlement_noop import counter_key

        self.redis = redis.Redis.from_url(redis_url)
        self.key = counter_key(run_id)
        self.run_id = run_id
        self.sent = 0

    def send(self, count: int) -> None:
        from bench.settlement_noop import noop

        for _ in range(count):
            noop.delay(self.run_id)
        self.sent += count

    def done(self) -> int:
        return int(self.redis.get(self.key) or 0)

    def measure(self, count: int, worker) -> float:
        began = time.perf_counter()
        self.send(count)
        _wait_for(
            lambda: self.done() >= self.sent,
            limit_s=RUN_LIMIT_S,
            what="no-op tasks",
            process=worker,
        )
        seconds = time.perf_counter() - began
        self.redis.delete(self.key)
        return count / seconds


def _pay(batch_ids: list, worker) -> tuple[float, dict]:
    from django.db import connection

    from settlement.payouts import services

    began = time.perf_counter()
    made = services.create_payouts(batch_ids)
    if len(made) != len(batch_ids):
        raise RuntimeError(f"{len(made)} payouts made for {len(batch_ids)} batches")

    def states() -> dict:
        with connection.cursor() as cursor:
            cursor.execute("SELECT status, count(*) FROM settlement_payout GROUP BY status")
            return dict(cursor.fetchall())

    def finished() -> bool:
        now = states()
        return sum(now.get(s, 0) for s in ("paid", "failed", "returned")) >= len(made)

    _wait_for(finished, limit_s=RUN_LIMIT_S, what="payouts", process=worker)
    seconds = time.perf_counter() - began
    return len(made) / seconds, states()
