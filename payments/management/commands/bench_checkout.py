"""Benchmark card payments through the API on gunicorn + PostgreSQL, against two baselines.

    manage.py bench_checkout [--quick] [--clients 4] [--workers N] [--seconds S]

One run, on a scratch database of its own (dropped at the end unless --keep):
 1. migrate the scratch database, seed sellers, buyers (one per client), staff, products, API keys;
    measure statements and CPU per step in process (order, pay, capture);
 2. start gunicorn (bench.checkout_settings: DEBUG off, throttles high, in-memory broker) and,
    as production runs it, the order events outbox relay (its CPU counted with gunicorn's);
 3. warm up; each client creates, through the API, the orders it will pay (two sellers, stock
    reserved): enough for the measured phase at 1.5x the warm-up payment rate (order_rps is
    reported, but orders are the storefront's step, not part of the payment);
 4. baseline: an authenticated no-op DRF endpoint (/api/v1/bench/noop) with N keep-alive clients,
    in slices alternating with step 5's (--slices, 6 each: 5 s slices of a 30 s phase), so that
    other jobs on the machine weigh on both alike;
 5. card payments with N keep-alive clients, each payment being one API call with an API key and
    an Idempotency-Key: pay the order by card with capture_method "automatic" (validated, vaulted,
    authorised by the sandbox processor, one escrow hold per sub-order in the ledger, order paid,
    then captured at the processor and the holds posted);
 6. baseline: pgbench tpcb-like on another scratch database (`-i -s 10`, `-M prepared -c N -j 2`).

The last line printed is one JSON object:
    {"p1_capture_vs_noop_api", "p1b_capture_vs_pgbench", "capture_rps", "noop_rps", "pgbench_tps",
     "p50_ms", "p99_ms", ...}
where capture_rps is completed payments (authorised and captured) per second and p50/p99 are
their latencies. work_in_process also measures, serially, the manual flow (pay, then a staff
capture call) for comparison. Results are also written to var/bench/.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import resource
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

from ledger.bench import database_url

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
    """One keep-alive HTTP/1.1 connection; its API key, or another one per call."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        idempotent: bool = True,
        key: str | None = None,
    ):
        headers = {"Authorization": f"Bearer {key or self.key}", "Accept": "application/json"}
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
        parser.add_argument(
            "--slices", type=int, default=6, help="alternating no-op/payment slices per phase"
        )
        parser.add_argument("--port", type=int, default=0, help="0: a free port")
        parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
        parser.add_argument(
            "--work-rounds",
            type=int,
            default=20,
            help="checkouts measured in process (statements, CPU) before the load phases",
        )
        parser.add_argument(
            "--seed-only",
            action="store_true",
            help="internal: seed the scratch database, print its keys",
        )

    # --- orchestration ---------------------------------------------------------------------------

    def handle(self, *args, **options) -> None:
        if options["seed_only"]:
            seed = _seed(clients=options["clients"])
            seed["work"] = _measure_work(seed, rounds=options["work_rounds"])
            self.stdout.write(json.dumps(seed))
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
            env = self._server_env(scratch)
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
                    "--work-rounds",
                    str(options["work_rounds"]),
                ],
                env=env,
            )
            seed = json.loads(seed_out.strip().splitlines()[-1])
            self._log(f"work per checkout, in process: {json.dumps(seed.get('work', {}))}")
            self._log(
                f"gunicorn: {options['workers']} workers x {options['threads']} threads on :{port}"
            )
            gunicorn = self._start_gunicorn(env, port, options["workers"], options["threads"])
            relay = _start_relay(env, gunicorn.pid)
            _wait_ready(port, seed["buyers"][0]["key"], gunicorn)

            pools: list[list] = [[] for _ in range(clients)]
            self._log("warm-up: no-op, orders, payments (the payment rate sizes the order stock)")
            _run_phase(port, seed, clients, 2.0, op=_noop)
            _make_orders(port, seed, clients, pools, 40)
            calibration = _run_phase(port, seed, clients, 3.0, op=_payment, pools=pools)
            # Orders for the measured phase are made before it (they are the storefront's work,
            # not the payment's): enough for `seconds` at 1.5x the warm-up rate.
            per_client = max(50, int(calibration.rate * seconds * 1.5 / clients) + 1)
            self._log(f"orders for the payment phase: {per_client} per client (made via the API)")
            orders = _make_orders(port, seed, clients, pools, per_client)
            _analyze(params, scratch)
            # The relay's process and its backend: already in "server" and "db", also shown apart.
            relay_pids = [relay.pid, *_backends_named(params, scratch, RELAY_APPLICATION)]
            # The two phases alternate in slices (no-op, payments, no-op, ...) so that other jobs
            # on the machine weigh on both alike; rates, latencies and CPU are summed per kind.
            slices = max(1, int(options["slices"]))
            self._log(
                f"no-op API and card payments, {seconds:.0f} s each in {slices} alternating "
                f"slices, {clients} clients"
            )
            loadavg_start = os.getloadavg()
            noop, checkout = Phase(), Phase()
            noop_cpu_s: dict[str, float] = {}
            payment_cpu_s: dict[str, float] = {}
            for _slice in range(slices):
                for total, cpu, op in (
                    (noop, noop_cpu_s, _noop),
                    (checkout, payment_cpu_s, _payment),
                ):
                    start = _cpu_snapshot(gunicorn.pid, scratch, relay_pids)
                    part = _run_phase(port, seed, clients, seconds / slices, op=op, pools=pools)
                    end = _cpu_snapshot(gunicorn.pid, scratch, relay_pids)
                    for key in end:
                        cpu[key] = cpu.get(key, 0.0) + end[key] - start[key]
                    _add(total, part)
            loadavg_end = os.getloadavg()
            events_waiting = _events_waiting(params, scratch)
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

        noop_cpu = _per_op({}, noop_cpu_s, noop.done)
        checkout_cpu = _per_op({}, payment_cpu_s, checkout.done)  # per payment
        own = ("server", "db")
        checkout_own = sum(checkout_cpu.get(k, 0.0) for k in own)
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
            "noop_p50_ms": round(statistics.median(noop.latencies_ms), 2)
            if noop.latencies_ms
            else 0.0,
            # CPU per operation of gunicorn, of the scratch database's backends and of the
            # clients: what each costs whatever else the machine runs. p1_cpu is p1 on that basis.
            "cpu_ms_per_noop": noop_cpu,
            "cpu_ms_per_payment": checkout_cpu,
            "p1_cpu": round(sum(noop_cpu.get(k, 0.0) for k in own) / checkout_own, 3)
            if checkout_own
            else 0.0,
            "work_in_process": seed.get("work", {}),
            "loadavg_start": [round(x, 2) for x in loadavg_start],
            "loadavg_end": [round(x, 2) for x in loadavg_end],
            "payments": checkout.done,
            "payment_phase_s": round(checkout.seconds, 1),
            # The storefront's step before paying, made ahead of the payment phase (not in p1).
            "order_rps": round(orders.rate, 1),
            "orders_made": orders.done,
            "errors": checkout.errors + noop.errors + orders.errors,
            # Order events the outbox relay had not handed over when the phases ended (it kept up
            # if this is about one poll's worth).
            "events_waiting_for_relay": events_waiting,
            "clients": clients,
            "gunicorn_workers": options["workers"],
            "gunicorn_threads": options["threads"],
            "seconds_per_phase": seconds,
            "quick": quick,
            "wall_s": round(time.monotonic() - started, 1),
        }
        first_error = checkout.first_error or noop.first_error or orders.first_error
        if first_error:
            self._log(f"first error: {first_error}")
        _save(result)
        self.stdout.write(
            f"payments/s {result['capture_rps']}  no-op/s {result['noop_rps']}  "
            f"pgbench tps {result['pgbench_tps']}  payment p50 {result['p50_ms']} ms  "
            f"p99 {result['p99_ms']} ms  errors {result['errors']}"
        )
        self.stdout.write(json.dumps(result, sort_keys=False))

    def _log(self, message: str) -> None:
        self.stderr.write(f"[bench_checkout] {message}")

    def _server_env(self, dbname: str) -> dict:
        env = dict(os.environ)
        env["DATABASE_URL"] = database_url(connection.settings_dict, dbname)
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
            process_group=0,  # its own group (the relay joins it), in this session
            stdout=subprocess.DEVNULL,
        )


# --- phases --------------------------------------------------------------------------------------


class OutOfOrders(Exception):
    """A payment client used up the orders made for it: the phase ends for every client."""


def _run_phase(
    port: int, seed: dict, clients: int, seconds: float, *, op, pools: list[list] | None = None
) -> Phase:
    """`clients` keep-alive clients each loop `op(client, seed, pool)` until `seconds` pass or a
    client's pool of orders runs dry (then all stop: the rate is what was done in the time
    taken). `pools[i]` is client i's list (orders made, or orders to pay)."""
    phase = Phase()
    lock = threading.Lock()
    start_barrier = threading.Barrier(clients + 1)
    deadline_box: list[float] = []
    stop = threading.Event()
    stopped_at: list[float] = []
    pools = pools if pools is not None else [[] for _ in range(clients)]

    def worker(index: int) -> None:
        # One connection per client in every phase (the staff key rides on the buyer's
        # connection), so that the no-op and the payments meet the same number of sockets.
        buyer = ApiClient(port, seed["buyers"][index]["key"])
        local = Phase()
        start_barrier.wait()
        deadline = deadline_box[0]
        try:
            while time.perf_counter() < deadline and not stop.is_set():
                began = time.perf_counter()
                try:
                    ok, steps, error = op(buyer, seed, pools[index])
                except OutOfOrders:
                    with lock:
                        if not stop.is_set():
                            stopped_at.append(time.perf_counter())
                            stop.set()
                    break
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
    phase.seconds = (stopped_at[0] if stopped_at else time.perf_counter()) - began
    return phase


def _noop(client: ApiClient, seed: dict, pool: list):
    status, payload = client.call("GET", "/api/v1/bench/noop")
    return status == 200, {}, f"noop HTTP {status}: {payload}"


def _order(client: ApiClient, seed: dict, pool: list):
    """Create one order (two sellers, stock reserved) and keep its id for the payment phase."""
    status, order = client.call(
        "POST",
        "/api/v1/orders",
        {
            "items": [{"product_id": pid, "quantity": 1} for pid in seed["products"]],
            "shipping_address": ADDRESS,
        },
    )
    if status != 201:
        return False, {}, f"order HTTP {status}: {order}"
    pool.append(order["id"])
    return True, {}, ""


def _payment_body(order_id: str) -> dict:
    return {"order": order_id, "method": "card", "card": CARD, "capture_method": "automatic"}


def _payment(client: ApiClient, seed: dict, pool: list):
    """One card payment of an order made beforehand: authorised and captured into escrow in one
    API call (capture_method "automatic", as Stripe's default)."""
    if not pool:
        raise OutOfOrders
    order_id = pool.pop()
    status, payment = client.call("POST", "/api/v1/payments/", _payment_body(order_id))
    if status != 201 or payment.get("status") != "captured":
        return False, {}, f"pay HTTP {status}: {payment}"
    return True, {}, ""


def _make_orders(port: int, seed: dict, clients: int, pools: list[list], per_client: int) -> Phase:
    """Fill every client's pool up to `per_client` orders (each client makes its own buyer's)."""
    orders = Phase()
    while min(len(pool) for pool in pools) < per_client:
        missing = per_client - min(len(pool) for pool in pools)
        made = _run_phase(
            port, seed, clients, max(1.0, missing / 20), op=_order, pools=pools
        )  # ~20 orders/s per client at worst; loop until every pool is full
        orders.done += made.done
        orders.errors += made.errors
        orders.seconds += made.seconds
        orders.first_error = orders.first_error or made.first_error
        if made.done == 0:
            raise CommandError(f"could not create orders: {made.first_error}")
    return orders


# --- setup inside the scratch database (runs in a subprocess with its DATABASE_URL) ---------------


def _seed(*, clients: int) -> dict:
    from accounts.dashboard_keys import dashboard_keys_ensure
    from accounts.models import Role, User
    from accounts.services import api_key_create
    from payments.catalog.models import Product

    def user(email: str, role: str) -> User:
        return User.objects.create_user(email, None, role=role, is_staff=role == Role.STAFF)

    sellers = [user(f"bench-seller-{i}@bench.test", Role.SELLER) for i in range(2)]
    # Real sellers have keys: every paid order is then sealed to them, as in production.
    for seller in sellers:
        dashboard_keys_ensure(seller=seller, password="bench-seller-password")
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


def _measure_work(seed: dict, *, rounds: int) -> dict:
    """Statements and CPU per step of one checkout, in this process through Django's test client
    (same settings, middleware and views as gunicorn runs, no HTTP): serial, so unlike the rates
    these figures hardly move with the machine's load. CPU is this process's (the web side) and
    the database backend's, read from /proc."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    if rounds <= 0:
        return {}
    client = Client()
    buyer, staff = seed["buyers"][0]["key"], seed["staff_key"]

    def call(key: str, path: str, body: dict | None = None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
        if body is None:
            return client.get(path, **headers)
        return client.post(
            path,
            data=json.dumps(body),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            **headers,
        )

    def new_order():
        return call(
            buyer,
            "/api/v1/orders",
            {
                "items": [{"product_id": pid, "quantity": 1} for pid in seed["products"]],
                "shipping_address": ADDRESS,
            },
        )

    def steps():
        # The measured payment: one call, authorised and captured (capture_method automatic).
        yield "order", new_order, 201
        order_id = state["response"].json()["id"]
        yield "payment", lambda: call(buyer, "/api/v1/payments/", _payment_body(order_id)), 201
        # For comparison, the same with manual capture: pay, then a staff capture call.
        yield "order", new_order, 201
        order_id = state["response"].json()["id"]
        yield (
            "pay_manual",
            lambda: call(
                buyer, "/api/v1/payments/", {"order": order_id, "method": "card", "card": CARD}
            ),
            201,
        )
        payment_id = state["response"].json()["id"]
        yield (
            "capture_manual",
            lambda: call(staff, f"/api/v1/payments/{payment_id}/capture/", {}),
            200,
        )

    state: dict = {}
    totals: dict[str, dict[str, float]] = {}
    for round_ in range(rounds + 3):  # three warm-up rounds
        for name, run, expected in steps():
            db_before = _backend_cpu_s()
            cpu_before = time.process_time()
            with CaptureQueriesContext(connection) as queries:
                state["response"] = run()
            cpu = time.process_time() - cpu_before
            db = _backend_cpu_s() - db_before
            if state["response"].status_code != expected:
                raise CommandError(f"{name}: HTTP {state['response'].status_code}")
            if round_ >= 3:
                step = totals.setdefault(name, {"statements": 0, "web_cpu_ms": 0.0, "db_cpu_ms": 0})
                step["statements"] = len(queries.captured_queries)
                step["web_cpu_ms"] += cpu * 1000 / rounds
                step["db_cpu_ms"] += db * 1000 / rounds
    noop_cpu, noop_db, noop_statements = 0.0, 0.0, 0
    for _ in range(rounds * 3):
        db_before = _backend_cpu_s()
        cpu_before = time.process_time()
        with CaptureQueriesContext(connection) as queries:
            response = call(buyer, "/api/v1/bench/noop")
        noop_cpu += time.process_time() - cpu_before
        noop_db += _backend_cpu_s() - db_before
        noop_statements = len(queries.captured_queries)
        if response.status_code != 200:
            raise CommandError(f"noop: HTTP {response.status_code}")
    totals["noop"] = {
        "statements": noop_statements,
        "web_cpu_ms": noop_cpu * 1000 / (rounds * 3),
        "db_cpu_ms": noop_db * 1000 / (rounds * 3),
    }
    for key in ("web_cpu_ms", "db_cpu_ms"):  # two orders per round
        totals["order"][key] /= 2
    for total, names in (
        ("manual_payment", ("pay_manual", "capture_manual")),
        ("checkout", ("order", "payment")),
    ):
        totals[total] = {
            key: sum(totals[name][key] for name in names)
            for key in ("statements", "web_cpu_ms", "db_cpu_ms")
        }
    return {
        name: {key: round(value, 2) for key, value in values.items()}
        for name, values in totals.items()
    }


def _backend_cpu_s() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (0.0 without /proc)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return _proc_cpu_s(pid) or 0.0


def _proc_cpu_s(pid: int | str) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _cpu_snapshot(server_pgid: int, dbname: str, relay_pids=()) -> dict[str, float]:
    """CPU seconds so far of the gunicorn processes (its process group), of the backends connected
    to the scratch database, and of this process (the clients). Linux /proc; zeros elsewhere."""
    totals = {"server": 0.0, "db": 0.0}
    marker = f" {dbname} ".encode()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == server_pgid:
                    kind = "server"
                else:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                        command = handle.read()
                    if not command.startswith(b"postgres:") or marker not in command:
                        continue
                    kind = "db"
                totals[kind] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, ValueError, IndexError):
                continue
    usage = resource.getrusage(resource.RUSAGE_SELF)
    totals["client"] = usage.ru_utime + usage.ru_stime
    if relay_pids:
        totals["of_which_relay"] = sum(_proc_cpu_s(pid) or 0.0 for pid in relay_pids)
    return totals


def _per_op(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    if not count:
        return {}
    return {key: round((after[key] - before.get(key, 0.0)) * 1000 / count, 2) for key in after}


def _add(total: Phase, part: Phase) -> None:
    total.done += part.done
    total.errors += part.errors
    total.seconds += part.seconds
    total.latencies_ms += part.latencies_ms
    total.first_error = total.first_error or part.first_error


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


RELAY_APPLICATION = "clearhouse-bench-relay"


def _start_relay(env: dict, server_pgid: int) -> subprocess.Popen:
    """The order events outbox relay, as production runs it beside the web processes: in
    gunicorn's process group, so its CPU is counted as the server's and _stop stops it too. Its
    connection is named, so that its backend's CPU can be shown apart."""
    url = env["DATABASE_URL"]
    url += ("&" if "?" in url else "?") + f"application_name={RELAY_APPLICATION}"
    return subprocess.Popen(
        [sys.executable, "manage.py", "relay_order_events"],
        env={**env, "DATABASE_URL": url},
        cwd=settings.BASE_DIR,
        process_group=server_pgid,
        stdout=subprocess.DEVNULL,
    )


def _backends_named(params: dict, name: str, application: str) -> list[int]:
    with _admin_connection(params, _checked_name(name)) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            [name, application],
        ).fetchall()
    return [int(row[0]) for row in rows]


def _events_waiting(params: dict, name: str) -> int:
    with _admin_connection(params, _checked_name(name)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM payments_orderevent"
            " WHERE relayed_at IS NULL AND dispatched_at IS NULL"
        ).fetchone()
    return int(row[0])


def _admin_connection(params: dict, dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(
        host=params.get("host") or "127.0.0.1",
        port=params.get("port") or 5432,
        user=params.get("user") or "postgres",
        password=params.get("password") or None,
        dbname=dbname,
        autocommit=True,
    )


def _analyze(params: dict, name: str) -> None:
    """Statistics, as a live database has them. The scratch database starts empty: statements
    first planned against empty tables (the ledger's lookups by id among them) keep sequential
    scans in long-lived connections until autovacuum analyzes, and their cost then grows with
    every payment of the phase. ANALYZE invalidates those plans."""
    with _admin_connection(params, _checked_name(name)) as conn:
        conn.execute("ANALYZE")


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
