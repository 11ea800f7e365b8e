"""Automatic capture (capture_method "automatic", Stripe's default): one API call authorises and
captures into escrow, on the fast path and on the Python path alike; a payment authorised later
(3-D Secure) or whose capture failed is captured by the task, and the sweeper re-drives it."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from accounts.services import api_key_create
from ledger.selectors import account_balance, account_by_code
from payments import payment_flows
from payments.lifecycle_models import OrderEvent
from payments.models import OrderStatus, Payment, PaymentEvent, SubOrder
from payments.payment_models import SandboxCardCharge
from payments.providers.base import ProviderUnavailable
from payments.providers.sandbox_card import SandboxCardProcessor
from tests.payments.pay_factories import make_order, make_user
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC, THREE_DS

pytestmark = pytest.mark.django_db
API = "/api/v1/payments/"


@pytest.fixture(params=["fast", "python"])
def path(request, settings):
    settings.PAYMENTS_FAST_PATH = request.param == "fast"
    return request.param


def pay(client, order, number=SUCCESS, **extra):
    body = {
        "order": str(order.id),
        "method": "card",
        "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": TEST_CVC},
        **extra,
    }
    return client.post(API, json.dumps(body), content_type="application/json")


def escrow() -> tuple[int, int]:
    balance = account_balance(account_by_code(currency="EUR", code="platform:escrow").id)
    return balance.credits_pending, balance.credits_posted


def test_one_call_authorises_and_captures_into_escrow(buyer_client, order, path):
    response = pay(buyer_client, order, capture_method="automatic")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["captured_minor"], body["amount_minor"]) == (
        "captured",
        4000,
        4000,
    )
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "captured" and payment.captured_minor == 4000
    assert list(
        PaymentEvent.objects.filter(payment=payment).order_by("id").values_list("to_status")
    ) == [("created",), ("authorized",), ("captured",)]
    assert escrow() == (0, 4000)  # posted, nothing left pending
    assert SandboxCardCharge.objects.get(reference=payment.provider_reference).status == "captured"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert sorted(
        SubOrder.objects.filter(order=order).values_list("captured_minor", flat=True)
    ) == [
        1500,
        2500,
    ]
    kinds = list(
        OrderEvent.objects.filter(order=order).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["payment.authorized", "order.paid", "order.paid", "payment.captured"]


def test_manual_is_the_default_and_leaves_the_money_authorised(buyer_client, order, path):
    response = pay(buyer_client, order)
    assert response.json()["status"] == "authorized"
    assert escrow() == (4000, 0)


def test_an_unknown_capture_method_is_refused_with_nothing_written(buyer_client, order, path):
    response = pay(buyer_client, order, capture_method="later")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "capture_method"
    assert not Payment.objects.filter(order=order).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_automatic_payment_call_is_at_most_10_statements(settings):
    settings.PAYMENTS_FAST_PATH = True
    buyer = make_user(Role.BUYER)
    _key, secret = api_key_create(owner=buyer, name="test")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def call(order):
        return client.post(
            API,
            json.dumps(
                {
                    "order": str(order.id),
                    "method": "card",
                    "capture_method": "automatic",
                    "card": {
                        "number": SUCCESS,
                        "exp_month": "12",
                        "exp_year": "2034",
                        "cvc": "123",
                    },
                }
            ),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )

    assert call(make_order(buyer=buyer)).status_code == 201  # warm: account ids, key last used
    order = make_order(buyer=buyer)
    with CaptureQueriesContext(connection) as queries:
        response = call(order)
    assert response.json()["status"] == "captured"
    statements = [q["sql"] for q in queries.captured_queries]
    # Idempotency claim, API key, start, vault read, charge, authorise, processor capture,
    # capture, idempotency answer: one statement per step, none per row, no BEGIN/SAVEPOINT.
    assert len(statements) <= 10, "\n".join(s[:120] for s in statements)
    assert sum("payments_card_start" in sql for sql in statements) == 1
    assert sum("payments_capture_full" in sql for sql in statements) == 1
    assert not any(sql.startswith(("BEGIN", "SAVEPOINT")) for sql in statements)


def test_a_capture_that_fails_leaves_it_authorised_and_the_task_captures_later(
    buyer_client, order, path, monkeypatch
):
    enqueued = []
    monkeypatch.setattr(
        payment_flows, "_enqueue_automatic_capture", lambda payment_id: enqueued.append(payment_id)
    )
    real_capture = SandboxCardProcessor.capture

    def down(self, **kwargs):
        raise ProviderUnavailable("processor down")

    monkeypatch.setattr(SandboxCardProcessor, "capture", down)
    response = pay(buyer_client, order, capture_method="automatic")

    assert response.status_code == 201
    assert response.json()["status"] == "authorized"
    assert [str(p) for p in enqueued] == [response.json()["id"]]
    monkeypatch.setattr(SandboxCardProcessor, "capture", real_capture)
    assert payment_flows.payment_capture_automatic(payment_id=enqueued[0]) is True
    assert Payment.objects.get(pk=enqueued[0]).status == "captured"
    assert escrow() == (0, 4000)
    # Replayed (a redelivered task): nothing more to do.
    assert payment_flows.payment_capture_automatic(payment_id=enqueued[0]) is False


def test_the_sweeper_captures_what_a_lost_task_left(buyer_client, order, path, monkeypatch):
    monkeypatch.setattr(payment_flows, "_enqueue_automatic_capture", lambda payment_id: None)
    monkeypatch.setattr(
        SandboxCardProcessor,
        "capture",
        lambda self, **kw: (_ for _ in ()).throw(ProviderUnavailable("down")),
    )
    payment_id = pay(buyer_client, order, capture_method="automatic").json()["id"]
    monkeypatch.undo()
    Payment.objects.filter(pk=payment_id).update(
        updated_at=Payment.objects.get(pk=payment_id).updated_at.replace(year=2020)
    )
    counts = payment_flows.payments_expire_due()
    assert counts["captured"] == 1
    assert Payment.objects.get(pk=payment_id).status == "captured"


def test_three_d_secure_then_the_task_captures(buyer_client, order, path, monkeypatch):
    enqueued = []
    monkeypatch.setattr(
        payment_flows, "_enqueue_automatic_capture", lambda payment_id: enqueued.append(payment_id)
    )
    body = pay(buyer_client, order, THREE_DS, capture_method="automatic").json()
    assert body["status"] == "requires_action"
    payment = payment_flows.payment_complete_challenge(
        payment_id=body["id"], outcome="pass", actor="buyer"
    )
    assert payment.status == "authorized"
    assert [str(p) for p in enqueued] == [body["id"]]
    assert payment_flows.payment_capture_automatic(payment_id=body["id"]) is True
    assert Payment.objects.get(pk=body["id"]).status == "captured"


def test_manual_payments_are_never_captured_by_the_task(buyer_client, order, path):
    payment_id = pay(buyer_client, order).json()["id"]
    assert payment_flows.payment_capture_automatic(payment_id=payment_id) is False
    assert Payment.objects.get(pk=payment_id).status == "authorized"
