"""Payment creation's "sensitive" rate limit (card testing) through the real API."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.models import Role
from core.api.throttling import CounterRateThrottle
from payments.models import Payment
from payments.orders import events as order_events
from payments.providers.models import SandboxCardCharge
from tests.concurrency import run_together
from tests.payments.pay_factories import make_order, make_user
from tests.payments.pay_fixtures import DECLINE, SUCCESS, TEST_CVC
from tests.redis_cache import default_cache_on_redis

API = "/api/v1/payments/"
START = 1_900_022_400.0  # the start of a minute window


@pytest.fixture
def two_a_minute(settings, monkeypatch):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "sensitive": "2/min",
        },
    }
    monkeypatch.setattr(CounterRateThrottle, "timer", lambda self: START)


@pytest.fixture
def redis_default_cache():
    yield from default_cache_on_redis()


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def pay(client: Client, order, number: str):
    body = {
        "order": str(order.id),
        "method": "card",
        "card": {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": TEST_CVC},
    }
    return client.post(API, json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_over_the_sensitive_rate_a_payment_is_429_with_the_error_shape(buyer, two_a_minute):
    client = client_of(buyer)
    orders = [make_order(buyer=buyer) for _ in range(3)]

    statuses = [pay(client, order, DECLINE).status_code for order in orders[:2]]
    refused = pay(client, orders[2], SUCCESS)

    assert statuses == [201, 201]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "100"  # 3 counted: down to 1 two thirds into the next minute
    assert refused.json() == {
        "error": {
            "code": "throttled",
            "message": "Request was throttled. Expected available in 100 seconds.",
            "field": None,
        }
    }
    # The refused card never reached the processor.
    assert Payment.objects.filter(order=orders[2]).count() == 0
    assert SandboxCardCharge.objects.count() == 2
    other = make_user(Role.BUYER)  # another buyer is not held back by this one
    assert pay(client_of(other), make_order(buyer=other), DECLINE).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_parallel_card_tries_from_one_buyer_get_exactly_the_limit(
    two_a_minute, redis_default_cache, monkeypatch
):
    # These commits are real: their order events must not reach the broker, where a later test's
    # Celery worker would take them up while that test's database is being flushed.
    dispatched: list[int] = []
    monkeypatch.setattr(order_events, "_enqueue_dispatch", dispatched.extend)
    buyer = make_user(Role.BUYER)
    tries = [(client_of(buyer), make_order(buyer=buyer)) for _ in range(8)]

    results = run_together(
        *[lambda c=client, o=order: pay(c, o, DECLINE) for client, order in tries]
    )

    statuses = sorted(getattr(r, "status_code", r) for r in results)
    assert statuses == [201, 201] + [429] * 6
    assert Payment.objects.count() == 2
