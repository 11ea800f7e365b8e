"""Fixtures for the payment side (imported by tests/payments/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.models import Role
from tests.payments.pay_factories import make_order, make_user

KEYS = Path(__file__).parent / "keys"


def read_test_key(name: str, half: str) -> str:
    return (KEYS / f"{name}_test_only_{half}.pem").read_text()


# Test cards (Stripe's numbers, as documented in payments/providers/sandbox_card.py).
SUCCESS = "4242424242424242"
DECLINE = "4000000000000002"
INSUFFICIENT = "4000000000009995"
EXPIRED = "4000000000000069"
BAD_CVC = "4000000000000127"
PROCESSING = "4000000000000119"
THREE_DS = "4000000000003220"
ALL_TEST_CARDS = [SUCCESS, DECLINE, INSUFFICIENT, EXPIRED, BAD_CVC, PROCESSING, THREE_DS]
TEST_CVC = "947"


def _payment_urls_mounted() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("pay:notify", args=["alipay"])
        reverse("payment-list")
    except NoReverseMatch:
        return False
    return True


@pytest.fixture(autouse=True)
def payment_side_settings(settings, monkeypatch):
    """Fixed test-only wallet keys; no real sleeping in provider retries (the calls are recorded)."""
    settings.SANDBOX_WALLET_KEYS = {
        wallet: {
            "private_pem": read_test_key(wallet, "private"),
            "public_pem": read_test_key(wallet, "public"),
        }
        for wallet in ("alipay", "wechat")
    }
    if not _payment_urls_mounted():
        settings.ROOT_URLCONF = "tests.payments.pay_urls"
    sleeps: list[float] = []
    from payments.flows import authorize

    monkeypatch.setattr(authorize, "sleep", sleeps.append)
    return sleeps


@pytest.fixture
def retry_sleeps(payment_side_settings):
    return payment_side_settings


@pytest.fixture
def buyer(db):
    return make_user(Role.BUYER)


@pytest.fixture
def other_buyer(db):
    return make_user(Role.BUYER)


@pytest.fixture
def staff(db):
    return make_user(Role.STAFF)


@pytest.fixture
def order(buyer):
    return make_order(buyer=buyer)


@pytest.fixture
def buyer_client(buyer):
    client = Client()
    client.force_login(buyer)
    return client


@pytest.fixture
def enqueued(monkeypatch):
    """Task messages sent (on commit), as (task name, args); nothing reaches a broker."""
    sent: list[tuple[str, tuple]] = []
    from payments.flows import tasks as payment_tasks
    from payments.providers import tasks as provider_tasks

    for task in (
        provider_tasks.sandbox_wallet_deliver_notice,
        payment_tasks.payment_release_at_provider,
    ):
        monkeypatch.setattr(
            task, "delay", lambda *args, _name=task.name: sent.append((_name, args))
        )
    return sent


@pytest.fixture
def wallet_transport(monkeypatch):
    """The sandbox wallet's HTTP POST, carried by Django's test client through the real URLconf,
    middleware and view. Records (path, params, status, body)."""
    from payments.providers import sandbox_wallet

    client = Client()
    calls: list[dict] = []

    def post(url: str, params: dict[str, str]) -> tuple[int, str]:
        path = urlsplit(url).path
        response = client.post(path, params)
        body = response.content.decode()
        calls.append(
            {"path": path, "params": dict(params), "status": response.status_code, "body": body}
        )
        return response.status_code, body

    monkeypatch.setattr(sandbox_wallet, "transport", post)
    return calls
