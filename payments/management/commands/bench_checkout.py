"""Benchmark card checkouts through the API on gunicorn + PostgreSQL, against two baselines.

    manage.py bench_checkout [--quick] [--clients 4] [--workers N] [--seconds S]

One run, on a scratch database of its own (dropped at the end unless --keep):
 1. migrate the scratch database, seed sellers, buyers (one per client), staff, products, API keys;
 2. start gunicorn (bench.checkout_settings: DEBUG off, throttles high, in-memory broker);
 3. baseline: an authenticated no-op DRF endpoint (/api/v1/bench/noop) with N keep-alive clients;
 4. checkouts with N keep-alive clients, each checkout being three API calls with an API key and
    an Idempotency-Key each: create the order (two sellers, stock reserved), pay it by card
    (validated, vaulted, authorised, one escrow hold per sub-order in the ledger), and capture it
    (staff API key; the holds are posted);
 5. baseline: pgbench tpcb-like on another scratch database (`-i -s 10`, `-M prepared -c N -j 2`).

The last line printed is one JSON object:
    {"p1_capture_vs_noop_api", "p1b_capture_vs_pgbench", "capture_rps", "noop_rps", "pgbench_tps",
     "p50_ms", "p99_ms", ...}
where capture_rps is completed checkouts (order + pay + capture) per second and p50/p99 are the
latencies of one whole checkout (three calls). Results are also written to var/bench/.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

ADDRESS = {
    "name": "Bench Buyer",
    "line1": "1 Load Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
GUNICORN = Path(sys.executable).with_name("gunicorn")


@dataclass
class Phase:
    latencies_ms: list[float] = field(default_factory=list)
    step_ms: dict[str, list[float]] = field(default_factory=dict)
    done: int = 0
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class ApiClient:
    """One keep-alive HTTP/1.1 connection with one API key."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: dict | None = None, idempotent: bool = True):
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if method == "POST" and idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        for attempt in range(2):  # a keep-alive connection the server closed: reconnect once
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                if attempt:
                    raise
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"raw": raw[:200].decode(errors="replace")}
        return response.status, payload

    def close(self) -> None:
        self.conn.close()


class Command(BaseCommand):
    help = "Benchmark card checkouts on gunicorn + PostgreSQL against a no-op API and pgbench."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--quick", action="store_true", help="about a minute in all")
        parser.add_argument("--clients", type=int, default=4)
        parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
        parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
        parser.add_argument("--seconds", type=float, default=None, help="per measured phase")
        parser.add_argument("--pgbench-seconds", type=int, default=None)
        parser.add_argument("--port", type=int, default=0, help="0: a free port")
        parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
        parser.add_argument(
            "--seed-only",
            action="store_true",
            help="internal: seed the scratch database, print its keys",
        )

    # --- orchestration ---------------------------------------------------------------------------

    def handle(self, *args, **options) -> None:
        if options["seed_only"]:
            self.stdout.write(json.dumps(_seed(clients=options["clients"])))
            return
        if connection.vendor != "postgresql":
            raise CommandError("bench_checkout needs PostgreSQL: set DATABASE_URL=postgres://...")
        if not GUNICORN.exists():
            raise CommandError(f"gunicorn not found at {GUNICORN}")
        quick = options["quick"]
        seconds = options["seconds"] or (10.0 if quick else 30.0)
        pgbench_seconds = options["pgbench_seconds"] or (10 if quick else 20)
        clients = max(1, min(options["clients"], 64))
        params = connection.get_connection_params()
        base = settings.DATABASES["default"]["NAME"]
        scratch, pgbench_db = f"{base}_bench_checkout", f"{base}_bench_pgbench"
        port = options["port"] or _free_port()
        gunicorn = None
        started = time.monotonic()
        try:
            self._log(f"scratch database {scratch}: create and migrate")
            _recreate_database(params, scratch)
            env = self._server_env(params, scratch)
            _run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
            _run([sys.executable, "manage.py", "createcachetable"], env=env)  # without Redis
            seed_out = _run(
                [
                    sys.executable,
                    "manage.py",
                    "bench_checkout",
                    "--seed-only",
                    "--clients",
                    str(clients),
                ],
                env=env,
            )
            seed = json.loads(seed_out.strip().splitlines()[-1])
            self._log(
                f"gunicorn: {options['workers']} workers x {options['threads']} threads on :{port}"
            )
            gunicorn = self._start_gunicorn(env, port, options["workers"], options["threads"])
            _wait_ready(port, seed["buyers"][0]["key"], gunicorn)

            self._log(f"warm-up, then no-op API for {seconds:.0f} s with {clients} clients")
            _run_phase(port, seed, clients, 2.0, noop=True)
            _run_phase(port, seed, clients, 3.0, noop=False)
            noop = _run_phase(port, seed, clients, seconds, noop=True)
            self._log(f"checkouts (order + card payment + capture) for {seconds:.0f} s")
            checkout = _run_phase(port, seed, clients, seconds, noop=False)
            _stop(gunicorn)
            gunicorn = None
            self._log(f"pgbench tpcb-like, {clients} clients, {pgbench_seconds} s")
            pgbench_tps = _pgbench(params, pgbench_db, clients, pgbench_seconds)
        finally:
            if gunicorn is not None:
                _stop(gunicorn)
            if not options["keep"]:
                for name in (scratch, pgbench_db):
                    _drop_database(params, name)

        result = {
            "p1_capture_vs_noop_api": round(checkout.rate / noop.rate, 3) if noop.rate else 0.0,
            "p1b_capture_vs_pgbench": round(checkout.rate / pgbench_tps, 3) if pgbench_tps else 0.0,
            "capture_rps": round(checkout.rate, 1),
            "noop_rps": round(noop.rate, 1),
            "pgbench_tps": round(pgbench_tps, 1),
            "p50_ms": round(statistics.median(checkout.latencies_ms), 1)
            if checkout.latencies_ms
            else 0.0,
            "p99_ms": round(_percentile(checkout.latencies_ms, 0.99), 1),
            "step_p50_ms": {
                k: round(statistics.median(v), 1) for k, v in checkout.step_ms.items() if v
            },
            "step_p99_ms": {
                k: round(_percentile(v, 0.99), 1) for k, v in checkout.step_ms.items() if v
            },
            "noop_p50_ms": round(statistics.median(noop.latencies_ms), 2)
            if noop.latencies_ms
            else 0.0,
            "checkouts": checkout.done,
            "errors": checkout.errors + noop.errors,
            "clients": clients,
            "gunicorn_workers": options["workers"],
            "gunicorn_threads": options["threads"],
            "seconds_per_phase": seconds,
            "quick": quick,
            "wall_s": round(time.monotonic() - started, 1),
        }
        if checkout.first_error or noop.first_error:
            self._log(f"first error: {checkout.first_error or noop.first_error}")
        _save(result)
        self.stdout.write(
            f"checkouts/s {result['capture_rps']}  no-op/s {result['noop_rps']}  "
            f"pgbench tps {result['pgbench_tps']}  checkout p50 {result['p50_ms']} ms  "
            f"p99 {result['p99_ms']} ms  errors {result['errors']}"
        )
        self.stdout.write(json.dumps(result, sort_keys=False))

    def _log(self, message: str) -> None:
        self.stderr.write(f"[bench_checkout] {message}")

    def _server_env(self, params: dict, dbname: str) -> dict:
        env = dict(os.environ)
        env["DATABASE_URL"] = _url(params, dbname)
        env["DJANGO_SETTINGS_MODULE"] = "bench.checkout_settings"
        env["DJANGO_DEBUG"] = "false"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def _start_gunicorn(self, env: dict, port: int, workers: int, threads: int):
        command = [
            str(GUNICORN),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",  # keeps connections alive (sync workers close each one)
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ]
        return subprocess.Popen(
            command,
            env=env,
            cwd=settings.BASE_DIR,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )


# --- phases --------------------------------------------------------------------------------------


def _run_phase(port: int, seed: dict, clients: int, seconds: float, *, noop: bool) -> Phase:
    phase = Phase()
    lock = threading.Lock()
    start_barrier = threading.Barrier(clients + 1)
    deadline_box: list[float] = []

    def worker(index: int) -> None:
        buyer = ApiClient(port, seed["buyers"][index]["key"])
        staff = ApiClient(port, seed["staff_key"])
        local = Phase()
        start_barrier.wait()
        deadline = deadline_box[0]
        try:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    ok, steps, error = _noop(buyer) if noop else _checkout(buyer, staff, seed)
                except Exception as exc:  # a dead connection counts as an error, the run goes on
                    ok, steps, error = False, {}, repr(exc)
                elapsed_ms = (time.perf_counter() - began) * 1000
                if ok:
                    local.done += 1
                    local.latencies_ms.append(elapsed_ms)
                    for name, value in steps.items():
                        local.step_ms.setdefault(name, []).append(value)
                else:
                    local.errors += 1
                    local.first_error = local.first_error or error
        finally:
            buyer.close()
            staff.close()
        with lock:
            phase.done += local.done
            phase.errors += local.errors
            phase.latencies_ms += local.latencies_ms
            phase.first_error = phase.first_error or local.first_error
            for name, values in local.step_ms.items():
                phase.step_ms.setdefault(name, []).extend(values)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline_box.append(began + seconds)
    start_barrier.wait()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    phase.seconds = time.perf_counter() - began
    return phase


def _noop(client: ApiClient):
    status, payload = client.call("GET", "/api/v1/bench/noop")
    return status == 200, {}, f"noop HTTP {status}: {payload}"


def _checkout(buyer: ApiClient, staff: ApiClient, seed: dict):
    steps = {}
    t0 = time.perf_counter()
    status, order = buyer.call(
        "POST",
        "/api/v1/orders",
        {
            "items": [{"product_id": pid, "quantity": 1} for pid in seed["products"]],
            "shipping_address": ADDRESS,
        },
    )
    t1 = time.perf_counter()
    steps["order"] = (t1 - t0) * 1000
    if status != 201:
        return False, steps, f"order HTTP {status}: {order}"
    status, payment = buyer.call(
        "POST", "/api/v1/payments/", {"order": order["id"], "method": "card", "card": CARD}
    )
    t2 = time.perf_counter()
    steps["pay"] = (t2 - t1) * 1000
    if status != 201 or payment.get("status") != "authorized":
        return False, steps, f"pay HTTP {status}: {payment}"
    status, captured = staff.call("POST", f"/api/v1/payments/{payment['id']}/capture/", {})
    steps["capture"] = (time.perf_counter() - t2) * 1000
    if status != 200 or captured.get("status") != "captured":
        return False, steps, f"capture HTTP {status}: {captured}"
    return True, steps, ""


# --- setup inside the scratch database (runs in a subprocess with its DATABASE_URL) ---------------


def _seed(*, clients: int) -> dict:
    from accounts.models import Role, User
    from accounts.services import api_key_create
    from payments.models import Product

    def user(email: str, role: str) -> User:
        return User.objects.create_user(email, None, role=role, is_staff=role == Role.STAFF)

    sellers = [user(f"bench-seller-{i}@bench.test", Role.SELLER) for i in range(2)]
    products = [
        Product.objects.create(
            seller=seller,
            title=f"Bench item {i}",
            price_minor=1999 + i,
            currency="EUR",
            stock=10**8,
        )
        for i, seller in enumerate(sellers)
    ]
    buyers = []
    for i in range(clients):
        buyer = user(f"bench-buyer-{i}@bench.test", Role.BUYER)
        buyers.append({"id": buyer.pk, "key": api_key_create(owner=buyer, name="bench")[1]})
    staff = user("bench-staff@bench.test", Role.STAFF)
    return {
        "buyers": buyers,
        "staff_key": api_key_create(owner=staff, name="bench")[1],
        "products": [p.pk for p in products],
    }


# --- processes and databases ---------------------------------------------------------------------


def _run(command: list[str], *, env: dict | None = None) -> str:
    result = subprocess.run(
        command, env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise CommandError(f"{' '.join(command[:4])} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(port: int, key: str, process) -> None:
    for _ in range(1800):  # up to 180 s (a loaded machine imports slowly)
        if process.poll() is not None:
            raise CommandError("gunicorn exited during start")
        try:
            status, _ = ApiClient(port, key).call("GET", "/api/v1/bench/noop")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise CommandError("gunicorn did not answer within 180 s")


def _stop(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _url(params: dict, dbname: str) -> str:
    user = params.get("user") or "postgres"
    password = params.get("password") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgres://{auth}{params.get('host') or '127.0.0.1'}:{params.get('port') or 5432}/{dbname}"


def _admin_connection(params: dict):
    import psycopg

    return psycopg.connect(
        host=params.get("host") or "127.0.0.1",
        port=params.get("port") or 5432,
        user=params.get("user") or "postgres",
        password=params.get("password") or None,
        dbname="postgres",
        autocommit=True,
    )


def _checked_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]{1,63}", name) or "bench" not in name:
        raise CommandError(f"refusing to touch database {name!r}")
    return name


def _recreate_database(params: dict, name: str) -> None:
    name = _checked_name(name)
    with _admin_connection(params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def _drop_database(params: dict, name: str) -> None:
    name = _checked_name(name)
    with _admin_connection(params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pgbench(params: dict, name: str, clients: int, seconds: int) -> float:
    _recreate_database(params, name)
    common = [
        "-h",
        params.get("host") or "127.0.0.1",
        "-p",
        str(params.get("port") or 5432),
        "-U",
        params.get("user") or "postgres",
    ]
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = params["password"]
    _run(["pgbench", "-i", "-s", "10", "-q", *common, name], env=env)
    out = _run(
        [
            "pgbench",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
            *common,
            name,
        ],
        env=env,
    )
    match = re.search(r"tps = ([0-9.]+)", out)
    if not match:
        raise CommandError(f"no tps in pgbench output:\n{out[-2000:]}")
    return float(match.group(1))


def _save(result: dict) -> None:
    folder = Path(settings.BASE_DIR) / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    (folder / f"checkout-{stamp}.json").write_text(json.dumps(result, indent=2))
