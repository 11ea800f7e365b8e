"""bench_checkout's load: keep-alive API clients, the measured phases (payments, the no-op
baseline, the orders made beforehand) and their rates and latencies.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.core.management.base import CommandError

from payments.providers.sandbox_card_processor import SUCCEEDS

ADDRESS = {
    "name": "Bench Buyer",
    "line1": "1 Load Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}

CARD = {"number": SUCCEEDS, "exp_month": "12", "exp_year": "2034", "cvc": "123"}


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


def percentile(values: list[float], fraction: float) -> float:
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


class OutOfOrders(Exception):
    """A payment client used up the orders made for it: the phase ends for every client."""


def run_phase(
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


def noop_step(client: ApiClient, seed: dict, pool: list):
    status, payload = client.call("GET", "/api/v1/bench/noop")
    return status == 200, {}, f"noop HTTP {status}: {payload}"


def order_step(client: ApiClient, seed: dict, pool: list):
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


def payment_body(order_id: str) -> dict:
    return {"order": order_id, "method": "card", "card": CARD, "capture_method": "automatic"}


def payment_step(client: ApiClient, seed: dict, pool: list):
    """One card payment of an order made beforehand: authorised and captured into escrow in one
    API call (capture_method "automatic", as Stripe's default)."""
    if not pool:
        raise OutOfOrders
    order_id = pool.pop()
    status, payment = client.call("POST", "/api/v1/payments", payment_body(order_id))
    if status != 201 or payment.get("status") != "captured":
        return False, {}, f"pay HTTP {status}: {payment}"
    return True, {}, ""


def make_orders(port: int, seed: dict, clients: int, pools: list[list], per_client: int) -> Phase:
    """Fill every client's pool up to `per_client` orders (each client makes its own buyer's)."""
    orders = Phase()
    while min(len(pool) for pool in pools) < per_client:
        missing = per_client - min(len(pool) for pool in pools)
        made = run_phase(
            port, seed, clients, max(1.0, missing / 20), op=order_step, pools=pools
        )  # ~20 orders/s per client at worst; loop until every pool is full
        orders.done += made.done
        orders.errors += made.errors
        orders.seconds += made.seconds
        orders.first_error = orders.first_error or made.first_error
        if made.done == 0:
            raise CommandError(f"could not create orders: {made.first_error}")
    return orders


def add_phase(total: Phase, part: Phase) -> None:
    total.done += part.done
    total.errors += part.errors
    total.seconds += part.seconds
    total.latencies_ms += part.latencies_ms
    total.first_error = total.first_error or part.first_error
