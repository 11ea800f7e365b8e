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

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from accounts.dashboard_keys import dashboard_keys_ensure
from accounts.models import Role, User
from accounts.services import api_key_create
from bench.checkout_load import (
    Phase,
    add_phase,
    make_orders,
    noop_step,
    payment_step,
    percentile,
    run_phase,
)
from bench.checkout_system import (
    RELAY_APPLICATION,
    analyze,
    backends_named,
    count_events_waiting,
    cpu_snapshot,
    drop_database,
    free_port,
    per_op,
    pgbench,
    recreate_database,
    run_command,
    save_result,
    start_relay,
    stop_process,
    wait_ready,
)
from bench.checkout_work import measure_work
from core.postgresql.scratch import database_url
from payments.catalog.models import Product

GUNICORN = Path(sys.executable).with_name("gunicorn")


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
            seed["work"] = measure_work(seed, rounds=options["work_rounds"])
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
        port = options["port"] or free_port()
        gunicorn = None
        started = time.monotonic()
        try:
            self._log(f"scratch database {scratch}: create and migrate")
            recreate_database(params, scratch)
            env = self._server_env(scratch)
            run_command([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
            run_command([sys.executable, "manage.py", "createcachetable"], env=env)  # without Redis
            seed_out = run_command(
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
            relay = start_relay(env, gunicorn.pid)
            wait_ready(port, seed["buyers"][0]["key"], gunicorn)

            pools: list[list] = [[] for _ in range(clients)]
            self._log("warm-up: no-op, orders, payments (the payment rate sizes the order stock)")
            run_phase(port, seed, clients, 2.0, op=noop_step)
            make_orders(port, seed, clients, pools, 40)
            calibration = run_phase(port, seed, clients, 3.0, op=payment_step, pools=pools)
            # Orders for the measured phase are made before it (they are the storefront's work,
            # not the payment's): enough for `seconds` at 1.5x the warm-up rate.
            per_client = max(50, int(calibration.rate * seconds * 1.5 / clients) + 1)
            self._log(f"orders for the payment phase: {per_client} per client (made via the API)")
            orders = make_orders(port, seed, clients, pools, per_client)
            analyze(params, scratch)
            # The relay's process and its backend: already in "server" and "db", also shown apart.
            relay_pids = [relay.pid, *backends_named(params, scratch, RELAY_APPLICATION)]
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
                    (noop, noop_cpu_s, noop_step),
                    (checkout, payment_cpu_s, payment_step),
                ):
                    start = cpu_snapshot(gunicorn.pid, scratch, relay_pids)
                    part = run_phase(port, seed, clients, seconds / slices, op=op, pools=pools)
                    end = cpu_snapshot(gunicorn.pid, scratch, relay_pids)
                    for key in end:
                        cpu[key] = cpu.get(key, 0.0) + end[key] - start[key]
                    add_phase(total, part)
            loadavg_end = os.getloadavg()
            events_waiting = count_events_waiting(params, scratch)
            stop_process(gunicorn)
            gunicorn = None
            self._log(f"pgbench tpcb-like, {clients} clients, {pgbench_seconds} s")
            pgbench_tps = pgbench(params, pgbench_db, clients, pgbench_seconds)
        finally:
            if gunicorn is not None:
                stop_process(gunicorn)
            if not options["keep"]:
                for name in (scratch, pgbench_db):
                    drop_database(params, name)

        noop_cpu = per_op({}, noop_cpu_s, noop.done)
        checkout_cpu = per_op({}, payment_cpu_s, checkout.done)  # per payment
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
            "p99_ms": round(percentile(checkout.latencies_ms, 0.99), 1),
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
        save_result(result)
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


def _seed(*, clients: int) -> dict:

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
