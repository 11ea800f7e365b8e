"""The payment pages work without JavaScript, label every field and answer only whom they should."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from payments.models import Payment
from payments.providers.models import SandboxCardCharge, SandboxWalletTrade
from tests.payments.pay_fixtures import TEST_CVC, THREE_DS

pytestmark = pytest.mark.django_db


def start(client, order, **body):
    response = client.post(
        "/api/v1/payments/",
        json.dumps({"order": str(order.id), **body}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def three_ds(client, order):
    card = {"number": THREE_DS, "exp_month": "12", "exp_year": "2030", "cvc": TEST_CVC}
    return start(client, order, method="card", card=card, return_url="/orders/somewhere/")


def assert_usable_without_script_and_labelled(content: bytes):
    # Our pages add no script (the site's base template may); every action is a plain form.
    section = content[content.index(b'<section class="pay-card"') :]
    assert b"<script" not in section
    for form in re.findall(rb"<form[^>]*>", section):
        assert b'method="post"' in form
    ids = set(re.findall(rb'<input id="([^"]+)"', content))
    labels = set(re.findall(rb'<label for="([^"]+)"', content))
    assert ids <= labels


def test_phone_with_the_qr_link_approves_without_a_login(buyer_client, order, enqueued):
    body = start(buyer_client, order, method="wallet", wallet="alipay")
    approve_url = body["next_action"]["url"].replace("/?t=", "/approve/?t=")
    phone = Client()  # no session: the wallet app scanned the code
    page = phone.get(approve_url)
    assert page.status_code == 200 and b"Approve payment" in page.content
    assert_usable_without_script_and_labelled(page.content)
    assert phone.post(approve_url, {"action": "approve"}).status_code == 200
    assert SandboxWalletTrade.objects.get().status == "TRADE_SUCCESS"
    # Deciding twice changes nothing.
    again = phone.post(approve_url, {"action": "cancel"})
    assert b"already approved" in again.content
    assert SandboxWalletTrade.objects.get().status == "TRADE_SUCCESS"
    assert Client().get(approve_url.split("?")[0]).status_code == 404


def test_wallet_approve_page_refuses_an_unknown_choice(buyer_client, order):
    body = start(buyer_client, order, method="wallet", wallet="wechat")
    approve_url = body["next_action"]["url"].replace("/?t=", "/approve/?t=")
    response = buyer_client.post(approve_url, {"action": "maybe"})
    assert response.status_code == 400 and b"Choose Approve or Cancel" in response.content
    assert SandboxWalletTrade.objects.get().status == "WAIT_BUYER_PAY"


def test_challenge_page_is_plain_html_and_links_back(buyer_client, order):
    body = three_ds(buyer_client, order)
    page = buyer_client.get(body["next_action"]["url"])
    assert_usable_without_script_and_labelled(page.content)
    assert b'method="post"' in page.content
    buyer_client.post(body["next_action"]["url"], {"action": "pass"})
    done = buyer_client.get(body["next_action"]["url"])
    assert b'href="/orders/somewhere/"' in done.content


def test_challenge_page_opened_after_the_deadline_counts_as_abandoned(buyer_client, order):
    body = three_ds(buyer_client, order)
    past = timezone.now() - timedelta(seconds=1)
    Payment.objects.filter(pk=body["id"]).update(expires_at=past)
    SandboxCardCharge.objects.update(challenge_expires_at=past)
    page = buyer_client.get(body["next_action"]["url"])
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.failure_code) == ("failed", "authentication_abandoned")
    assert b"cancelled or timed out" in page.content


def test_bank_page_labels_every_field(buyer_client, order):
    body = start(buyer_client, order, method="bank_transfer")
    page = buyer_client.get(body["next_action"]["url"])
    assert_usable_without_script_and_labelled(page.content)
    # The account details are read, not typed: each value is named by its term in one list, and
    # the reference (the one a payer must copy exactly) is also a labelled output.
    details = page.content.split(b'data-testid="bank-details"', 1)[1].split(b"</dl>", 1)[0]
    for term in (b"Account name", b"IBAN", b"BIC", b"Reference (required)", b"Amount"):
        assert b"<dt>" + term in details or b">" + term + b"</label></dt>" in details
    assert details.count(b"<dd") == 5
    assert b'<label for="bank-reference">' in details and b'<output id="bank-reference"' in details
