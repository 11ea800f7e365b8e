"""A card payment whose request died after the processor charged: the buyer's order page says
"processing", the recovery sweeper completes it within two minutes, and the client's retry with
the same Idempotency-Key answers with that payment (id and true state), never with a refusal such
as 409 order_not_payable kept as the key's answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments import conf
from payments.flows import authorize
from payments.flows.expiry import payments_recover_stale
from payments.models import Payment
from payments.providers.models import SandboxCardCharge
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC

pytestmark = pytest.mark.django_db(transaction=True)

PAYMENTS = "/api/v1/payments/"


def body(order) -> dict:
    return {
        "order": str(order.pk),
        "method": "card",
        "capture_method": "automatic",
        "card": {"number": SUCCESS, "exp_month": "12", "exp_year": "2030", "cvc": TEST_CVC},
    }


@pytest.fixture
def client(buyer) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(buyer)
    return client


def pay(client, order, key: str):
    return client.post(
        PAYMENTS, body(order), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


@pytest.fixture
def dies_after_the_charge(monkeypatch):
    """The request's connection is lost after the processor charged, before the answer is applied."""

    def lost(**kwargs):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(authorize, "apply_authorize_result", lost)
    return monkeypatch


def test_the_first_answer_is_a_503_and_the_order_page_says_processing(
    client, order, dies_after_the_charge
):
    first = pay(client, order, "k-1")
    assert first.status_code == 503 and first["Retry-After"]
    assert first.json()["error"]["code"] == "service_unavailable"
    payment = Payment.objects.get()
    assert payment.status == "created"
    assert SandboxCardCharge.objects.get().status == "captured"

    page = client.get(reverse("payments:order", args=[order.pk]))
    assert page.status_code == 200
    assert 'data-testid="payment-status">Processing<' in page.content.decode()
    assert "no need to pay again" in page.content.decode()


def test_a_retry_after_the_sweeper_completed_the_payment_answers_with_it(
    client, order, dies_after_the_charge
):
    assert pay(client, order, "k-2").status_code == 503
    dies_after_the_charge.undo()
    payment = Payment.objects.get()
    later = payment.created_at + timedelta(seconds=int(conf.get("PAYMENTS_RECOVER_AFTER_S")) + 1)
    assert payments_recover_stale(now=later) == 1
    assert Payment.objects.get().status == "captured"

    retry = pay(client, order, "k-2")
    assert retry.status_code == 201, retry.content
    assert (retry.json()["id"], retry.json()["status"]) == (str(payment.id), "captured")
    assert pay(client, order, "k-2").content == retry.content  # kept: the true outcome
    assert Payment.objects.count() == 1
    assert SandboxCardCharge.objects.count() == 1


def test_a_retry_before_the_sweeper_completes_the_payment_itself_charging_once(
    client, order, dies_after_the_charge
):
    assert pay(client, order, "k-3").status_code == 503
    dies_after_the_charge.undo()

    retry = pay(client, order, "k-3")
    assert retry.status_code == 201, retry.content
    payment = Payment.objects.get()
    assert (retry.json()["id"], retry.json()["status"]) == (str(payment.id), "captured")
    charge = SandboxCardCharge.objects.get()
    assert (charge.status, charge.captured_minor, charge.attempts) == ("captured", 4000, 1)
    assert payments_recover_stale(now=timezone.now() + timedelta(hours=1)) == 0


def test_another_key_on_a_paid_order_is_still_refused(client, order):
    assert pay(client, order, "k-4").status_code == 201
    other = pay(client, order, "k-5")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "order_not_payable"


def test_a_payment_left_created_is_recovered_within_two_minutes():
    """Recovered once PAYMENTS_RECOVER_AFTER_S old, by a beat task that runs that often."""
    entry = settings.CELERY_BEAT_SCHEDULE["payments-recover-stale"]
    assert entry["task"] == "payments.recover_stale"
    assert int(conf.get("PAYMENTS_RECOVER_AFTER_S")) + entry["schedule"] <= 120
