"""Shared fixtures for the webhooks side's tests: a real HTTP receiver on 127.0.0.1, endpoints,
orders with events, and the README's verification snippet."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import transaction

from accounts.models import Role
from payments.orders.events import record_order_event
from payments.webhooks.endpoints import webhook_endpoint_create
from tests.lifecycle.lifecycle_fixtures import sub_order_of  # noqa: F401  (for the tests)
from tests.payments.pay_factories import make_order, make_user

# The fixtures, for `from tests.lifecycle.webhook_fixtures import *` in test modules (buyer,
# other_buyer and staff come from tests/lifecycle/conftest.py).
__all__ = [
    "enqueued",
    "order",
    "receiver",
    "seller_a",
    "seller_b",
]

README = Path(__file__).resolve().parent.parent.parent / "README.md"
SNIPPET_MARKER = "<!-- webhook-verify-snippet -->"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next status in `statuses` (then `default`), recording it."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    default: int = 200
    delay_s: float = 0.0  # wait this long before answering (timeouts)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else self.default


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
            status = receiver.next_status()
            if receiver.delay_s:
                time.sleep(receiver.delay_s)
            if status in (301, 302, 307, 308):
                self.send_response(status)
                self.send_header("Location", receiver.url + "redirected")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            payload = b'{"ok": true}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up (timeout tests)

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler


@pytest.fixture
def receiver():
    hook = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hook))
    server.daemon_threads = True
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def enqueued(monkeypatch):
    """Deliveries the code enqueues (with their countdowns) instead of publishing them."""
    calls: list[tuple[str, float | None]] = []
    from payments.webhooks import deliveries as webhook_services

    monkeypatch.setattr(
        webhook_services,
        "_enqueue",
        lambda delivery_id, *, countdown=None: calls.append((delivery_id, countdown)),
    )
    return calls


@pytest.fixture
def seller_a(db):
    return make_user(Role.SELLER)


@pytest.fixture
def seller_b(db):
    return make_user(Role.SELLER)


@pytest.fixture
def order(buyer, seller_a, seller_b):
    """One order, two sellers: A's sub-order 1500, B's 2500."""
    return make_order(buyer=buyer, sellers=[seller_a, seller_b], amounts=(1500, 2500))


def make_endpoint(seller, url: str, event_types=None, **fields):
    endpoint, secret = webhook_endpoint_create(
        seller=seller, url=url, description=fields.pop("description", ""), event_types=event_types
    )
    for name, value in fields.items():
        setattr(endpoint, name, value)
    if fields:
        endpoint.save()
    return endpoint, secret


def record(order, kind: str, *, sub_order=None, actor: str = "system", data=None):
    """An OrderEvent as the services record it: in a transaction, through record_order_event."""
    with transaction.atomic():
        return record_order_event(
            order=order, kind=kind, actor=actor, sub_order=sub_order, data=data or {}
        )


def payment_data(order) -> dict:
    """payment.* data as payments/flows/state.py records it."""
    return {
        "payment_id": "00000000-0000-0000-0000-000000000001",
        "order_id": str(order.pk),
        "amount_minor": order.total_minor,
        "currency": order.currency,
        "method": "card",
        "status": "authorized",
        "sub_orders": [
            {"id": s.id, "seller_id": s.seller_id, "amount_minor": s.amount_minor}
            for s in order.sub_orders.order_by("id")
        ],
    }


def readme_snippet() -> str:
    """The Python code block that follows the marker in README.md (what receivers paste)."""
    text = README.read_text()
    assert SNIPPET_MARKER in text, "README.md lost the webhook verification snippet marker"
    after = text.split(SNIPPET_MARKER, 1)[1]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match, "no ```python block after the snippet marker"
    return match.group(1)


def readme_verify():
    """The README's `verify_webhook(secret, headers, body)`, executed from the README text."""
    namespace: dict = {}
    exec(compile(readme_snippet(), "README.md:webhook-snippet", "exec"), namespace)
    return namespace["verify_webhook"]
