"""Wallet payments (Alipay-style, WeChat-Pay-style): the wallet page, the sandbox wallet's approve
and cancel, and its signed asynchronous notifications delivered over HTTP to /pay/notify/<wallet>/:
valid, duplicate, out of order, tampered, unsigned, signed by another key."""

from __future__ import annotations

import json

import pytest

from ledger.models import Transfer
from ledger.selectors import account_balance, account_by_code
from payments.flows.models import WalletNotification
from payments.models import OrderStatus, Payment, PaymentEvent
from payments.providers import sandbox_wallet
from payments.providers.models import SandboxWalletNotice, SandboxWalletTrade
from payments.providers.tasks import sandbox_wallet_deliver_notice
from tests.payments.pay_fixtures import read_test_key

pytestmark = pytest.mark.django_db
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def start_wallet(client, order, wallet="alipay") -> dict:
    response = client.post(
        "/api/v1/payments/",
        json.dumps({"order": str(order.id), "method": "wallet", "wallet": wallet}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def approve(client, body, django_capture_on_commit_callbacks, choice="approve"):
    url = body["next_action"]["url"].replace(
        f"/pay/wallet/{body['id']}/", f"/pay/wallet/{body['id']}/approve/"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"action": choice})
    assert response.status_code == 200
    return response


def escrow_pending() -> int:
    return account_balance(
        account_by_code(currency="EUR", code="platform:escrow").id
    ).credits_pending


def post_notification(client, params: dict, wallet="alipay"):
    return client.post(f"/pay/notify/{wallet}/", params)


def genuine_notice(payment_id: str, status: str, wallet="alipay") -> dict:
    """A notification the sandbox wallet really signed, reporting `status` for this trade."""
    trade = SandboxWalletTrade.objects.get(provider=wallet, out_trade_no=payment_id)
    trade.status = status
    return sandbox_wallet.wallets[wallet].make_notice(trade).params


@pytest.mark.parametrize("wallet", ["alipay", "wechat"])
def test_start_gives_a_wallet_page(buyer_client, order, wallet):
    body = start_wallet(buyer_client, order, wallet)
    assert body["status"] == "requires_action"
    assert body["wallet"] == wallet
    assert body["next_action"]["type"] == "wallet"
    assert body["next_action"]["url"].startswith(f"/pay/wallet/{body['id']}/?t=")
    trade = SandboxWalletTrade.objects.get()
    assert (trade.provider, trade.out_trade_no, trade.amount_minor, trade.status) == (
        wallet,
        body["id"],
        4000,
        "WAIT_BUYER_PAY",
    )
    assert trade.notify_url.endswith(f"/pay/notify/{wallet}/")


def test_desktop_sees_a_server_drawn_qr_code_and_mobile_a_button(buyer_client, order):
    body = start_wallet(buyer_client, order)
    desktop = buyer_client.get(body["next_action"]["url"], HTTP_USER_AGENT=DESKTOP)
    assert desktop.status_code == 200
    assert b"<svg" in desktop.content and b"Scan this code" in desktop.content
    assert b'http-equiv="refresh"' in desktop.content  # updates without JavaScript
    phone = buyer_client.get(body["next_action"]["url"], HTTP_USER_AGENT=IPHONE)
    assert b"<svg" not in phone.content
    assert b"Open wallet app" in phone.content and b"/approve/?t=" in phone.content


def test_approve_notifies_asynchronously_and_authorises(
    buyer_client, order, enqueued, wallet_transport, django_capture_on_commit_callbacks
):
    body = start_wallet(buyer_client, order)
    page = approve(buyer_client, body, django_capture_on_commit_callbacks)
    assert b"Payment approved in the wallet" in page.content
    # Nothing changed yet on the platform: the wallet owes a notification, sent by a task on commit.
    assert Payment.objects.get(pk=body["id"]).status == "requires_action"
    notice = SandboxWalletNotice.objects.get()
    assert enqueued == [("payments.sandbox_wallet_deliver_notice", (notice.id,))]

    assert sandbox_wallet_deliver_notice.apply(args=[notice.id]).get() is True
    assert wallet_transport[0]["status"] == 200 and wallet_transport[0]["body"] == "success"
    assert wallet_transport[0]["params"]["sign_type"] == "RSA2"
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "authorized"
    assert escrow_pending() == 4000
    stored = WalletNotification.objects.get()
    assert (
        stored.provider,
        stored.notify_id,
        stored.verified,
        stored.outcome,
        stored.payment_id,
    ) == ("alipay", notice.notify_id, True, "applied", payment.id)
    assert stored.params["trade_status"] == "TRADE_SUCCESS"
    notice.refresh_from_db()
    assert notice.acknowledged_at is not None and notice.attempts == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert buyer_client.get(body["next_action"]["url"]).content.count(b"Payment authorised") == 1


def test_duplicate_notification_is_acknowledged_and_changes_nothing(
    buyer_client, order, enqueued, wallet_transport, django_capture_on_commit_callbacks
):
    body = start_wallet(buyer_client, order)
    approve(buyer_client, body, django_capture_on_commit_callbacks)
    notice = SandboxWalletNotice.objects.get()
    sandbox_wallet_deliver_notice.apply(args=[notice.id])
    counts = (
        Transfer.objects.count(),
        PaymentEvent.objects.count(),
        WalletNotification.objects.count(),
    )

    for _ in range(2):  # the wallet retries the very same notification
        response = post_notification(buyer_client, notice.params)
        assert (response.status_code, response.content) == (200, b"success")
    # Another notification (new notify_id) reporting the same success: a duplicate by state.
    response = post_notification(buyer_client, genuine_notice(body["id"], "TRADE_SUCCESS"))
    assert response.content == b"success"
    assert (Transfer.objects.count(), PaymentEvent.objects.count()) == counts[:2]
    assert WalletNotification.objects.count() == counts[2] + 1
    assert WalletNotification.objects.latest("id").outcome == "duplicate"
    assert Payment.objects.get(pk=body["id"]).status == "authorized"
    assert escrow_pending() == 4000


def test_out_of_order_notifications_are_harmless(
    buyer_client, order, enqueued, wallet_transport, django_capture_on_commit_callbacks
):
    body = start_wallet(buyer_client, order)
    waiting = genuine_notice(body["id"], "WAIT_BUYER_PAY")
    approve(buyer_client, body, django_capture_on_commit_callbacks)
    success = SandboxWalletNotice.objects.latest("id")
    closed = genuine_notice(body["id"], "TRADE_CLOSED")

    # The success arrives first; the older "waiting" and a stray "closed" come after it.
    assert post_notification(buyer_client, success.params).content == b"success"
    events = PaymentEvent.objects.count()
    assert post_notification(buyer_client, waiting).content == b"success"
    assert post_notification(buyer_client, closed).content == b"success"
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "authorized" and PaymentEvent.objects.count() == events
    assert escrow_pending() == 4000
    assert list(WalletNotification.objects.order_by("id").values_list("outcome", flat=True)) == [
        "applied",
        "ignored",
        "ignored",
    ]


def test_success_after_the_payment_expired_is_ignored_and_released(
    buyer_client, order, enqueued, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from payments.flows.expiry import payments_expire_due

    body = start_wallet(buyer_client, order)
    success = genuine_notice(body["id"], "TRADE_SUCCESS")
    SandboxWalletTrade.objects.update(status="WAIT_BUYER_PAY")
    Payment.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert payments_expire_due()["wallet"] == 1
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.failure_code) == ("expired", "wallet_expired")
    assert SandboxWalletTrade.objects.get().status == "TRADE_CLOSED"

    with django_capture_on_commit_callbacks(execute=True):
        assert post_notification(buyer_client, success).content == b"success"
    assert Payment.objects.get(pk=body["id"]).status == "expired"
    assert Transfer.objects.count() == 0
    assert enqueued == [("payments.release_at_provider", (body["id"],))]


def test_cancel_in_the_wallet_fails_the_payment(
    buyer_client, order, enqueued, wallet_transport, django_capture_on_commit_callbacks
):
    body = start_wallet(buyer_client, order)
    page = approve(buyer_client, body, django_capture_on_commit_callbacks, choice="cancel")
    assert b"Nothing was charged" in page.content
    sandbox_wallet_deliver_notice.apply(args=[SandboxWalletNotice.objects.get().id])
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.failure_code) == ("failed", "wallet_cancelled")
    assert (
        payment.failure_message
        == "The payment was cancelled in the wallet app. Nothing was charged."
    )
    assert Transfer.objects.count() == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_FAILED


def resign(params: dict, private_pem: str) -> dict:
    signed = dict(params)
    signed["sign"] = sandbox_wallet.rsa2_sign(signed, private_pem)
    return signed


@pytest.mark.parametrize(
    ("forge", "error"),
    [
        ("tampered_amount", "bad_signature"),
        ("tampered_status", "bad_signature"),
        ("unsigned", "unsigned"),
        ("other_key", "bad_signature"),
        ("other_wallets_key", "bad_signature"),
        ("not_base64", "bad_signature"),
        ("wrong_sign_type", "bad_sign_type"),
    ],
)
def test_forged_notifications_are_rejected_logged_and_change_nothing(
    buyer_client, order, caplog, forge, error
):
    body = start_wallet(buyer_client, order)
    genuine = genuine_notice(body["id"], "TRADE_SUCCESS")
    SandboxWalletTrade.objects.update(status="WAIT_BUYER_PAY")
    params = dict(genuine)
    if forge == "tampered_amount":
        params["total_amount"] = "0.01"
    elif forge == "tampered_status":
        genuine_wait = genuine_notice(body["id"], "WAIT_BUYER_PAY")
        params = {**genuine_wait, "trade_status": "TRADE_SUCCESS"}
    elif forge == "unsigned":
        params.pop("sign")
    elif forge == "other_key":
        params = resign(params, read_test_key("attacker", "private"))
    elif forge == "other_wallets_key":
        params = resign(params, read_test_key("wechat", "private"))
    elif forge == "not_base64":
        params["sign"] = "%%% not base64 %%%"
    else:
        params["sign_type"] = "RSA"
    events = PaymentEvent.objects.count()

    with caplog.at_level("WARNING"):
        response = post_notification(buyer_client, params)

    assert response.status_code == 400 and response.content != b"success"
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "requires_action"
    assert (Transfer.objects.count(), PaymentEvent.objects.count()) == (0, events)
    stored = WalletNotification.objects.get()
    assert (stored.verified, stored.outcome) == (False, "rejected")
    assert stored.error.startswith(error)
    assert any("rejected" in record.getMessage() for record in caplog.records)
    # The genuine notification still goes through afterwards (the forgery blocked nothing).
    assert post_notification(buyer_client, genuine).content == b"success"
    assert Payment.objects.get(pk=body["id"]).status == "authorized"


def test_genuine_signature_for_an_unknown_trade_is_rejected(buyer_client, order):
    body = start_wallet(buyer_client, order)
    trade = SandboxWalletTrade.objects.get()
    trade.out_trade_no = "00000000-0000-0000-0000-000000000000"
    params = sandbox_wallet.wallets["alipay"].make_notice(trade).params
    trade.out_trade_no = body["id"]
    response = post_notification(buyer_client, params)
    assert response.status_code == 400
    assert WalletNotification.objects.get().error.startswith("unknown_payment")
    assert Payment.objects.get(pk=body["id"]).status == "requires_action"


def test_amount_mismatch_with_a_genuine_signature_is_rejected(buyer_client, order):
    body = start_wallet(buyer_client, order)
    trade = SandboxWalletTrade.objects.get()
    trade.amount_minor, trade.status = 1, "TRADE_SUCCESS"
    params = sandbox_wallet.wallets["alipay"].make_notice(trade).params
    response = post_notification(buyer_client, params)
    assert response.status_code == 400
    stored = WalletNotification.objects.get()
    assert (stored.verified, stored.outcome) == (True, "rejected")
    assert stored.error.startswith("amount_mismatch")
    assert Payment.objects.get(pk=body["id"]).status == "requires_action"


def test_repeated_parameters_are_rejected(buyer_client, order):
    body = start_wallet(buyer_client, order)
    params = genuine_notice(body["id"], "TRADE_SUCCESS")
    response = buyer_client.post(
        "/pay/notify/alipay/", {**params, "trade_status": ["TRADE_SUCCESS", "TRADE_CLOSED"]}
    )
    assert response.status_code == 400
    assert Payment.objects.get(pk=body["id"]).status == "requires_action"


def test_notify_endpoint_only_for_known_providers_and_post(client, db):
    assert client.post("/pay/notify/paypal/", {"a": "b"}).status_code == 404
    assert client.get("/pay/notify/alipay/").status_code == 405


def test_delivery_retries_with_backoff_until_acknowledged(
    buyer_client, order, enqueued, monkeypatch, django_capture_on_commit_callbacks, wallet_transport
):
    from payments.providers import tasks as payment_tasks

    body = start_wallet(buyer_client, order)
    approve(buyer_client, body, django_capture_on_commit_callbacks)
    notice = SandboxWalletNotice.objects.get()
    real = sandbox_wallet.transport
    answers = iter([(0, "ConnectionRefusedError"), (500, "oops")])
    monkeypatch.setattr(
        sandbox_wallet, "transport", lambda url, params: next(answers, None) or real(url, params)
    )
    countdowns = []
    original_retry = payment_tasks.sandbox_wallet_deliver_notice.retry
    monkeypatch.setattr(
        payment_tasks.sandbox_wallet_deliver_notice,
        "retry",
        lambda *a, **kw: countdowns.append(kw["countdown"]) or original_retry(*a, **kw),
    )
    assert sandbox_wallet_deliver_notice.apply(args=[notice.id]).get() is True
    notice.refresh_from_db()
    assert notice.attempts == 3 and notice.acknowledged_at is not None
    assert countdowns == [5, 10]
    assert Payment.objects.get(pk=body["id"]).status == "authorized"


def test_delivery_gives_up_after_the_bounded_retries(
    buyer_client, order, enqueued, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.SANDBOX_WALLET_NOTIFY_MAX_RETRIES = 2
    body = start_wallet(buyer_client, order)
    approve(buyer_client, body, django_capture_on_commit_callbacks)
    notice = SandboxWalletNotice.objects.get()
    monkeypatch.setattr(sandbox_wallet, "transport", lambda url, params: (503, "busy"))
    assert sandbox_wallet_deliver_notice.apply(args=[notice.id]).get() is False
    notice.refresh_from_db()
    assert (notice.attempts, notice.acknowledged_at, notice.last_error) == (
        3,
        None,
        "HTTP 503: busy",
    )
    assert Payment.objects.get(pk=body["id"]).status == "requires_action"


@pytest.mark.django_db(transaction=True)
def test_notification_over_real_http_to_a_live_server(live_server, settings, enqueued):
    """No test client: the sandbox wallet's task POSTs with urllib to a running server."""
    from django.test import Client

    from accounts.models import Role
    from tests.payments.pay_factories import make_order, make_user

    settings.PAYMENTS_PUBLIC_BASE_URL = live_server.url
    buyer = make_user(Role.BUYER)
    order = make_order(buyer=buyer)
    client = Client()
    client.force_login(buyer)
    body = start_wallet(client, order)
    approve_url = body["next_action"]["url"].replace("/?t=", "/approve/?t=")
    assert client.post(approve_url, {"action": "approve"}).status_code == 200
    notice = SandboxWalletNotice.objects.get()
    assert enqueued == [("payments.sandbox_wallet_deliver_notice", (notice.id,))]
    assert sandbox_wallet_deliver_notice.apply(args=[notice.id]).get() is True
    assert Payment.objects.get(pk=body["id"]).status == "authorized"
