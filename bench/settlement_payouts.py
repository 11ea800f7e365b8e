"""bench_settlement's p6: payouts per second from created to paid, through real Celery workers,
Redis, the platform's web process and the sandbox bank (no latency, transfers settled at once),
against Celery no-op tasks per second on the same Redis and the same worker processes.

In the scratch database p5 leaves behind (sellers, their batches and available balances):
  1. start the sandbox bank (`manage.py run_sandbox_bank`, its own SQLite file in a temporary
     folder, a free port; latency and settle delay 0) and open each paid seller's account there;
  2. start the platform's web process (gunicorn, config.wsgi) for the bank's callbacks, and one
     Celery worker (`celery -A config worker`, prefork, --workers processes, late acks and
     prefetch 1 as configured) on a queue of the run's own, with bench.settlement_noop loaded;
  3. warm up (no-op tasks), then time max(--payouts, MIN_NOOPS) no-op tasks from the first send
     to the last run: noop_per_s;
  4. create_payouts for --payouts batches (one per seller, in the seller's settlement currency, so
     each seller has one account at the bank): the workers submit them (settlement.payout_submit),
     the bank settles each at once and calls back, the web process applies the callback (paid,
     the ledger posted). From create_payouts to the last payout paid: payouts_per_s.

Everything the run starts is stopped at the end; nothing outside the scratch database, the
temporary folder and the run's own Redis queue and counter is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
WEB_WORKERS = 2
WEB_WARMUP_REQUESTS = 20  # a new connection each: spread over the web workers
MIN_NOOPS = 2_000
WARMUP_NOOPS = 200
START_LIMIT_S = 60
RUN_LIMIT_S = 600
STALL_S = 30


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
        from settlement.gateways.registry import get_bank_gateway

        get_bank_gateway()
    except Exception as exc:  # ImportError, AttributeError, ImproperlyConfigured alike
        return f"the sandbox bank's gateway is not available ({exc.__class__.__name__}: {exc})"
    if not GUNICORN.exists():
        return f"gunicorn is not installed at {GUNICORN} (the bank's callbacks need the web app)"
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


class Broken(RuntimeError):
    """A check that will not come right by waiting."""


def _wait_for(check: Callable[[], bool], *, limit_s: float, what: str, process=None) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        try:
            if check():
                return
        except Broken:
            raise
        except Exception:  # not up yet
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not within {limit_s:.0f} s")


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
    from celery import current_app
    from django.urls import reverse

    folder = Path(tempfile.mkdtemp(prefix="bench-settlement-"))
    run_id = uuid.uuid4().hex[:12]
    queue = f"bench-settlement-{run_id}"
    nodename = f"{queue}@{socket.gethostname()}"
    bank_url = f"http://127.0.0.1:{_free_port()}"
    web_url = f"http://127.0.0.1:{_free_port()}"
    callback_url = web_url + reverse("settlement:bank-callback")
    child_env = {
        **env,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SANDBOX_BANK_URL": bank_url,
        "SANDBOX_BANK_CALLBACK_URL": callback_url,
        "SANDBOX_BANK_LATENCY_MS": "0",
        "SANDBOX_BANK_SETTLE_DELAY_MS": "0",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "PYTHONUNBUFFERED": "1",
        "DJANGO_DEBUG": "0",
    }
    started: list[subprocess.Popen] = []
    # What this process publishes (create_payouts' submits, the no-op tasks) goes to the run's
    # own queue, which only the run's worker consumes.
    default_queue = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = queue
    try:
        bank = _start(
            [
                sys.executable,
                "manage.py",
                "run_sandbox_bank",
                "--port",
                bank_url.rsplit(":", 1)[1],
                "--db",
                str(folder / "bank.sqlite3"),
                "--callback-url",
                callback_url,
            ],
            child_env,
            folder / "bank.log",
            started,
        )
        web = _start(
            [
                str(GUNICORN),
                "config.wsgi:application",
                "--bind",
                web_url.removeprefix("http://"),
                "--workers",
                str(WEB_WORKERS),
            ],
            child_env,
            folder / "web.log",
            started,
        )
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
                f"--queues={queue}-idle",
                f"--hostname={nodename}",
                "--include=bench.settlement_noop",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
            ],
            child_env,
            folder / "worker.log",
            started,
        )
        operator = _operator(bank_url)
        _wait_for(operator.faults, limit_s=START_LIMIT_S, what="the sandbox bank", process=bank)
        operator.set_faults(latency_ms=0, settle_delay_ms=0)
        _wait_for(
            lambda: _callback_answer(callback_url) == 400,
            limit_s=START_LIMIT_S,
            what="the web process (an unsigned callback must be refused with 400)",
            process=web,
        )
        # Warm every web worker's callback path (URLs, middleware, the gateway and its key) as
        # the no-op phase warms the workers: what is timed is the steady state, not first loads.
        for _ in range(WEB_WARMUP_REQUESTS):
            _callback_answer(callback_url)
        batch_ids = _open_accounts(operator, payouts)
        out(f"  p6: bank, web and worker up; {len(batch_ids):,} sellers' accounts opened")

        # The worker starts on an idle queue: each phase's tasks are queued first, then the
        # worker is pointed at them and the clock runs until the last has run (what is timed is
        # the workers' throughput, not this process's publishing).
        consumer = _Consumer(current_app, queue, nodename)
        counter = _Counter(redis_url, run_id)
        counter.send(WARMUP_NOOPS)
        with consumer:
            _wait_for(
                lambda: counter.done() >= WARMUP_NOOPS,
                limit_s=START_LIMIT_S,
                what="the Celery worker",
                process=worker,
            )
        counter.reset()
        noops = max(MIN_NOOPS, len(batch_ids))
        counter.send(noops)
        began = time.perf_counter()
        with consumer:
            _wait_for(
                lambda: counter.done() >= noops,
                limit_s=RUN_LIMIT_S,
                what="no-op tasks",
                process=worker,
            )
            noop_per_s = noops / (time.perf_counter() - began)
        out(f"  p6: {noop_per_s:,.0f} no-op tasks/s ({workers} worker processes)")
        made = _create_payouts(batch_ids)  # their submits wait in the queue
        began = time.perf_counter()
        with consumer:
            states = _wait_paid(made, worker, out)
            payouts_per_s = len(made) / (time.perf_counter() - began)
        out(f"  p6: {payouts_per_s:,.1f} payouts/s from created to paid {states}")
        return {"payouts_per_s": payouts_per_s, "noop_per_s": noop_per_s}
    except Exception as exc:
        out(f"  p6: failed: {exc}")
        for name in ("bank.log", "web.log", "worker.log"):
            with contextlib.suppress(OSError):
                tail = (folder / name).read_text(errors="replace").splitlines()[-12:]
                out(f"  {name}:\n    " + "\n    ".join(tail))
        return {"payouts_per_s": None, "noop_per_s": None, "reason": f"p6 failed: {exc}"}
    finally:
        current_app.conf.task_default_queue = default_queue
        for process in reversed(started):
            _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def _callback_answer(callback_url: str) -> int:
    """The status the web process answers an unsigned callback with (400 when it works)."""
    request = urllib.request.Request(callback_url, data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        if refused.code >= 500:
            raise Broken(f"the platform's bank callback endpoint answers {refused.code}") from None
        return refused.code


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


class _Consumer:
    """Points the run's worker at the run's queue for the length of a `with` block."""

    def __init__(self, app, queue: str, nodename: str) -> None:
        self.app, self.queue, self.nodename = app, queue, nodename

    def __enter__(self) -> None:
        replies = self.app.control.add_consumer(
            self.queue, destination=[self.nodename], reply=True, timeout=10
        )
        if not replies:
            raise RuntimeError("the Celery worker did not start consuming")

    def __exit__(self, *exc) -> None:
        self.app.control.cancel_consumer(
            self.queue, destination=[self.nodename], reply=True, timeout=10
        )


class _Counter:
    """No-op tasks sent, and how many have run (their Redis counter)."""

    def __init__(self, redis_url: str, run_id: str) -> None:
        import redis

        from bench.settlement_noop import counter_key

        self.redis = redis.Redis.from_url(redis_url)
        self.key = counter_key(run_id)
        self.run_id = run_id

    def send(self, count: int) -> None:
        from bench.settlement_noop import noop

        for _ in range(count):
            noop.delay(self.run_id)

    def done(self) -> int:
        return int(self.redis.get(self.key) or 0)

    def reset(self) -> None:
        self.redis.delete(self.key)


def _states() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM settlement_payout GROUP BY status")
        return dict(cursor.fetchall())


def _create_payouts(batch_ids: list) -> list:
    """One payout per batch; their submit tasks are queued on commit."""
    from settlement.payouts import services

    made = services.create_payouts(batch_ids)
    if len(made) != len(batch_ids):
        raise RuntimeError(f"{len(made)} payouts made for {len(batch_ids)} batches")
    return made


def _wait_paid(made: list, worker, out: Callable[[str], None]) -> dict:
    """Until every payout is final; raises if one is not paid or they stop moving."""
    seen, changed = {}, time.monotonic()
    began, submitted = time.monotonic(), None
    while True:
        now = _states()
        if submitted is None and now.get("created", 0) == 0:
            submitted = time.monotonic() - began
            out(f"  p6: every payout submitted (or further) after {submitted:.1f} s")
        if sum(now.get(state, 0) for state in ("paid", "failed", "returned")) >= len(made):
            break
        if now != seen:
            seen, changed = now, time.monotonic()
        elif time.monotonic() - changed > STALL_S:
            raise RuntimeError(f"the payouts stopped moving for {STALL_S} s: {now}")
        if worker.poll() is not None:
            raise RuntimeError(f"the Celery worker exited with {worker.returncode}: {now}")
        time.sleep(0.05)
    if now.get("paid", 0) != len(made):
        raise RuntimeError(f"not every payout was paid: {now}")
    return now
