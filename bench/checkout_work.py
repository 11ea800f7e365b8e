"""bench_checkout's in-process measurement: statements and CPU (Python and the database backend)
per step of one order and payment (order, pay with automatic capture; pay then a staff capture),
against the authenticated no-op endpoint.
"""

from __future__ import annotations

import json
import time
import uuid

from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.checkout_load import (
    ADDRESS,
    CARD,
    payment_body,
)
from bench.checkout_system import (
    backend_cpu_s,
)


def measure_work(seed: dict, *, rounds: int) -> dict:
    """Statements and CPU per step of one checkout, in this process through Django's test client
    (same settings, middleware and views as gunicorn runs, no HTTP): serial, so unlike the rates
    these figures hardly move with the machine's load. CPU is this process's (the web side) and
    the database backend's, read from /proc."""

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
        yield "payment", lambda: call(buyer, "/api/v1/payments", payment_body(order_id)), 201
        # For comparison, the same with manual capture: pay, then a staff capture call.
        yield "order", new_order, 201
        order_id = state["response"].json()["id"]
        yield (
            "pay_manual",
            lambda: call(
                buyer, "/api/v1/payments", {"order": order_id, "method": "card", "card": CARD}
            ),
            201,
        )
        payment_id = state["response"].json()["id"]
        yield (
            "capture_manual",
            lambda: call(staff, f"/api/v1/payments/{payment_id}/capture", {}),
            200,
        )

    state: dict = {}
    totals: dict[str, dict[str, float]] = {}
    for round_ in range(rounds + 3):  # three warm-up rounds
        for name, run, expected in steps():
            db_before = backend_cpu_s()
            cpu_before = time.process_time()
            with CaptureQueriesContext(connection) as queries:
                state["response"] = run()
            cpu = time.process_time() - cpu_before
            db = backend_cpu_s() - db_before
            if state["response"].status_code != expected:
                raise CommandError(f"{name}: HTTP {state['response'].status_code}")
            if round_ >= 3:
                step = totals.setdefault(name, {"statements": 0, "web_cpu_ms": 0.0, "db_cpu_ms": 0})
                step["statements"] = len(queries.captured_queries)
                step["web_cpu_ms"] += cpu * 1000 / rounds
                step["db_cpu_ms"] += db * 1000 / rounds
    noop_cpu, noop_db, noop_statements = 0.0, 0.0, 0
    for _ in range(rounds * 3):
        db_before = backend_cpu_s()
        cpu_before = time.process_time()
        with CaptureQueriesContext(connection) as queries:
            response = call(buyer, "/api/v1/bench/noop")
        noop_cpu += time.process_time() - cpu_before
        noop_db += backend_cpu_s() - db_before
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
