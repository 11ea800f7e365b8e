"""Card payments through the real HTTP stack (test client -> URLconf -> middleware -> DRF view ->
services -> sandbox processor -> ledger): every test card, 3-D Secure, retries, bad input."""

from __future__ import annotations

import json

import pytest

from ledger.models import Transfer
from ledger.selectors import account_balance, account_by_code
from payments.flows.expiry import payments_expire_due
from payments.models import OrderStatus, Payment, PaymentEvent
from payments.providers.models import SandboxCardCharge
from payments.vault.models import VaultedCard
from tests.payments.pay_fixtures import (
    BAD_CVC,
    DECLINE,
    EXPIRED,
    INSUFFICIENT,
    PROCESSING,
    SUCCESS,
    TEST_CVC,
    THREE_DS,
)

pytestmark = pytest.mark.django_db
API = "/api/v1/payments/"


def pay(client, order, number, *, cvc=TEST_CVC, exp_month="12", exp_year="2030", **extra):
    body = {
        "order": str(order.id),
        "method": "card",
        "card": {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc},
        **extra,
    }
    return client.post(API, json.dumps(body), content_type="application/json")


def escrow_pending() -> int:
    try:
        return account_balance(
            account_by_code(currency="EUR", code="platform:escrow").id
        ).credits_pending
    except Exception:
        return 0


def test_success_card_authorises_and_holds_escrow(buyer_client, order):
    response = pay(buyer_client, order, SUCCESS)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "authorized"
    assert body["next_action"] is None
    assert body["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}
    assert (body["amount_minor"], body["currency"], body["failure_code"]) == (4000, "EUR", "")
    assert escrow_pending() == 4000
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert "4242424242424242" not in response.content.decode()
    assert TEST_CVC not in json.dumps(body["card"])


@pytest.mark.parametrize(
    ("number", "code", "message"),
    [
        (DECLINE, "card_declined", "Your card was declined. Try another card or pay another way."),
        (
            INSUFFICIENT,
            "insufficient_funds",
            "Your card was declined because of insufficient funds. Try another card or pay another way.",
        ),
        (EXPIRED, "expired_card", "Your card has expired. Try another card or pay another way."),
        (BAD_CVC, "incorrect_cvc", "The security code (CVC) you entered does not match your card."),
    ],
)
def test_declined_cards_fail_with_words_a_buyer_understands(
    buyer_client, order, number, code, message
):
    response = pay(buyer_client, order, number)
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["failure_code"], body["next_action"]) == ("failed", code, None)
    assert body["failure_message"].startswith(message)
    assert Transfer.objects.count() == 0 and escrow_pending() == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_FAILED
    assert SandboxCardCharge.objects.get().attempts == 1


def test_processing_error_is_retried_with_backoff_then_failed(
    buyer_client, order, retry_sleeps, settings
):
    settings.PAYMENTS_PROVIDER_MAX_ATTEMPTS = 3
    settings.PAYMENTS_PROVIDER_RETRY_BACKOFF_S = 0.2
    response = pay(buyer_client, order, PROCESSING)
    body = response.json()
    assert (body["status"], body["failure_code"]) == ("failed", "processing_error")
    assert "nothing was charged" in body["failure_message"]
    # Three calls with the same idempotency key, 0.2 s then 0.4 s apart; one processor record.
    assert retry_sleeps == [0.2, 0.4]
    charge = SandboxCardCharge.objects.get()
    assert charge.attempts == 3 and charge.idempotency_key == f"payment:{body['id']}:authorize"
    assert Payment.objects.get(pk=body["id"]).provider_attempts == 3
    assert Transfer.objects.count() == 0


def test_three_d_secure_sends_the_buyer_to_a_challenge(buyer_client, order):
    body = pay(buyer_client, order, THREE_DS).json()
    assert body["status"] == "requires_action"
    action = body["next_action"]
    assert action["type"] == "redirect"
    assert action["url"].startswith(f"/pay/3ds/{body['id']}/?t=")
    assert Transfer.objects.count() == 0
    page = buyer_client.get(action["url"])
    assert page.status_code == 200
    assert b"Complete authentication" in page.content and b"Visa ending in 3220" in page.content


@pytest.mark.parametrize(
    ("button", "status", "code"),
    [
        ("pass", "authorized", ""),
        ("fail", "failed", "authentication_failed"),
        ("cancel", "failed", "authentication_abandoned"),
    ],
)
def test_three_d_secure_outcomes(buyer_client, order, button, status, code):
    body = pay(buyer_client, order, THREE_DS).json()
    url = body["next_action"]["url"]
    response = buyer_client.post(url, {"action": button})
    assert response.status_code == 302 and response["Location"] == url
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.failure_code) == (status, code)
    assert escrow_pending() == (4000 if status == "authorized" else 0)
    page = buyer_client.get(url)
    if status == "authorized":
        assert b"Payment authorised" in page.content
    else:
        assert payment.failure_message.encode() in page.content.replace(b"&#x27;", b"'")
    # Answering again changes nothing.
    buyer_client.post(url, {"action": "pass"})
    assert Payment.objects.get(pk=body["id"]).status == status
    assert (
        PaymentEvent.objects.filter(payment_id=body["id"]).count() == 3
    )  # created, requires_action, final


def test_three_d_secure_left_too_long_is_abandoned_by_the_sweeper(buyer_client, order):
    from datetime import timedelta

    from django.utils import timezone

    body = pay(buyer_client, order, THREE_DS).json()
    later = timezone.now() + timedelta(hours=1)
    Payment.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    SandboxCardCharge.objects.update(challenge_expires_at=timezone.now() - timedelta(seconds=1))
    counts = payments_expire_due(now=later)
    assert counts["three_d_secure"] == 1
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.failure_code) == ("failed", "authentication_abandoned")
    # The page now says so; a late "pass" cannot revive it.
    buyer_client.post(body["next_action"]["url"], {"action": "pass"})
    assert Payment.objects.get(pk=body["id"]).status == "failed"


def test_challenge_page_rejects_an_unknown_button(buyer_client, order):
    body = pay(buyer_client, order, THREE_DS).json()
    response = buyer_client.post(body["next_action"]["url"], {"action": "steal"})
    assert response.status_code == 400
    assert b"Choose one of the buttons" in response.content
    assert Payment.objects.get(pk=body["id"]).status == "requires_action"


def assert_nothing_written():
    assert Payment.objects.count() == 0
    assert VaultedCard.objects.count() == 0
    assert SandboxCardCharge.objects.count() == 0
    assert Transfer.objects.count() == 0


@pytest.mark.parametrize(
    ("card", "field"),
    [
        ({"number": "4242424242424241"}, "number"),  # fails Luhn
        ({"number": "4242 4242"}, "number"),
        ({"exp_month": "1", "exp_year": "2020"}, "exp"),  # expired
        ({"exp_month": "13"}, "exp"),
        ({"cvc": "12"}, "cvc"),
    ],
)
def test_bad_card_input_is_refused_with_the_error_shape(buyer_client, order, card, field):
    fields = {"number": SUCCESS, "exp_month": "12", "exp_year": "2030", "cvc": TEST_CVC, **card}
    response = pay(buyer_client, order, **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid", field)
    assert "4242" not in response.content.decode() and TEST_CVC not in error["message"]
    assert_nothing_written()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"method": "card"}, "card"),
        (
            {"method": "card", "card": {"number": SUCCESS, "exp_month": "12", "exp_year": "2030"}},
            "card.cvc",
        ),
        ({"method": "cash"}, "method"),
        ({"method": "wallet", "wallet": "paypal"}, "wallet"),
        (
            {
                "method": "card",
                "card": {"number": SUCCESS, "exp_month": "12", "exp_year": "2030", "cvc": TEST_CVC},
                "return_url": "https://evil.example/",
            },
            "return_url",
        ),
    ],
)
def test_missing_or_wrong_fields_are_refused(buyer_client, order, body, field):
    response = buyer_client.post(
        API, json.dumps({"order": str(order.id), **body}), content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == field
    assert_nothing_written()


def test_another_buyers_order_cannot_be_paid(other_buyer, order):
    from django.test import Client

    client = Client()
    client.force_login(other_buyer)
    response = pay(client, order, SUCCESS)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "order_not_found"
    assert_nothing_written()


def test_second_payment_while_one_is_active_is_a_conflict(buyer_client, order):
    pay(buyer_client, order, THREE_DS)
    response = pay(buyer_client, order, SUCCESS)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_in_progress"
    assert Payment.objects.count() == 1


def test_anonymous_caller_is_refused(client, order):
    response = pay(client, order, SUCCESS)
    assert response.status_code in (401, 403)
    assert_nothing_written()


def test_payment_creation_has_the_sensitive_rate_limit(buyer, settings):
    from django.core.cache import cache
    from django.test import Client

    from tests.payments.pay_factories import make_order

    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "sensitive": "2/min",
        },
    }
    client = Client()
    client.force_login(buyer)
    statuses = [pay(client, make_order(buyer=buyer), DECLINE).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert Payment.objects.count() == 2
    assert client.get(API).status_code == 200  # reading is not limited by it
    cache.clear()
