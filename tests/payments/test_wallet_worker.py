"""End to end with a real Celery worker: approve in the sandbox wallet, the worker's task POSTs
the signed notification over HTTP to a live server, the payment is authorised."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from accounts.models import Role
from payments.flows.models import WalletNotification
from payments.models import Payment
from payments.providers.models import SandboxWalletNotice
from tests.payments.pay_factories import make_order, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
WAIT_LIMIT_S = 30


def wait_for(predicate) -> bool:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_wallet_notification_delivered_by_the_worker(celery_worker, live_server, settings):
    settings.PAYMENTS_PUBLIC_BASE_URL = live_server.url
    buyer = make_user(Role.BUYER)
    order = make_order(buyer=buyer)
    client = Client()
    client.force_login(buyer)
    body = client.post(
        "/api/v1/payments/",
        json.dumps({"order": str(order.id), "method": "wallet", "wallet": "alipay"}),
        content_type="application/json",
    ).json()
    approve_url = body["next_action"]["url"].replace("/?t=", "/approve/?t=")
    assert client.post(approve_url, {"action": "approve"}).status_code == 200

    authorised = wait_for(lambda: Payment.objects.get(pk=body["id"]).status == "authorized")
    assert authorised, celery_worker.log_tail()
    # The worker records the acknowledgement once the HTTP answer is back, a moment after the
    # payment's commit (the request still runs its on-commit work, e.g. order event dispatch).
    acknowledged = wait_for(lambda: SandboxWalletNotice.objects.get().acknowledged_at is not None)
    assert acknowledged, celery_worker.log_tail()
    notice = SandboxWalletNotice.objects.get()
    assert notice.acknowledged_at is not None and notice.attempts == 1
    assert WalletNotification.objects.get().outcome == "applied"
