"""Webhook delivery: Standard Webhooks signatures, retries with backoff, giving up, resend."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import TestCase
from django.utils import timezone
from freezegun import freeze_time
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.canonical import canonical_json
from payments.dispatch.tasks import dispatch_order_event
from payments.models import WebhookAttempt, WebhookDelivery
from payments.webhooks.deliveries import RETRY_WINDOW, webhook_delivery_resend
from payments.webhooks.endpoints import webhook_endpoint_roll_secret
from payments.webhooks.models import DeliveryStatus
from payments.webhooks.signing import endpoint_secret
from payments.webhooks.tasks import deliver_webhook
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import make_endpoint, readme_verify, record, sub_order_of

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def accepted_delivery(order, seller, url, event_types=None):
    endpoint, secret = make_endpoint(seller, url, event_types)
    event = record(
        order,
        "order.accepted",
        sub_order=sub_order_of(order, seller),
        actor=f"seller:{seller.pk}",
        data={"status": "accepted"},
    )
    # Run the dispatcher's on-commit callbacks (the test transaction never commits).
    with TestCase.captureOnCommitCallbacks(execute=True):
        dispatch_order_event(event.pk)
    return endpoint, secret, WebhookDelivery.objects.get(endpoint=endpoint, event=event)


def test_a_delivery_verifies_with_the_library_and_with_the_readme_snippet(
    order, seller_a, receiver, enqueued
):
    endpoint, secret, delivery = accepted_delivery(order, seller_a, receiver.url)
    assert enqueued == [(delivery.pk, None)]  # dispatch enqueued it after commit

    assert deliver_webhook(delivery.pk) == "succeeded"

    [request] = receiver.requests
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert request.path == "/hooks/"
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == delivery.pk and delivery.pk.startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - timezone.now().timestamp()) < 30
    assert headers["webhook-signature"].startswith("v1,")
    assert request.body == canonical_json(delivery.payload)
    # The receiver's two ways to check it.
    payload = Webhook(secret).verify(request.body, headers)
    readme_verify()(secret, headers, request.body)
    assert payload["type"] == "order.accepted"
    assert payload["data"]["order_number"] == order.number
    assert payload["data"]["sub_order_id"] == sub_order_of(order, seller_a).id
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert (delivery.attempts, delivery.last_response_code, delivery.next_attempt_at) == (
        1,
        200,
        None,
    )
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert (attempt.number, attempt.response_code, attempt.succeeded) == (1, 200, True)
    assert attempt.latency_ms is not None
    # The secret is kept encrypted: it appears nowhere in the row's stored bytes.
    assert secret.encode() not in bytes(endpoint.secret_ciphertext)
    assert endpoint_secret(endpoint) == secret
    # A duplicate task message does nothing.
    assert deliver_webhook(delivery.pk) == "skipped"
    assert len(receiver.requests) == 1


def test_changed_body_old_timestamp_or_another_secret_fail_verification(
    order, seller_a, receiver, enqueued
):
    with freeze_time(T0):
        _endpoint, secret, delivery = accepted_delivery(order, seller_a, receiver.url)
        deliver_webhook(delivery.pk)
        [request] = receiver.requests
        headers = dict(request.headers)
        snippet = readme_verify()
        snippet(secret, headers, request.body)  # genuine and fresh: accepted

        tampered = request.body.replace(b"accepted", b"rejected")
        assert tampered != request.body
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(tampered, headers)
        with pytest.raises(ValueError):
            snippet(secret, headers, tampered)

        other_secret = make_endpoint(seller_a, receiver.url)[1]
        with pytest.raises(WebhookVerificationError):
            Webhook(other_secret).verify(request.body, headers)
        with pytest.raises(ValueError):
            snippet(other_secret, headers, request.body)

    # The same genuine message replayed 6 minutes later is refused by both.
    with freeze_time(T0 + dt.timedelta(minutes=6)):
        with pytest.raises(WebhookVerificationError, match="too old"):
            Webhook(secret).verify(request.body, headers)
        with pytest.raises(ValueError, match="5-minute"):
            snippet(secret, headers, request.body)
    # And one from 6 minutes in the future.
    with freeze_time(T0 - dt.timedelta(minutes=6)):
        with pytest.raises(WebhookVerificationError, match="too new"):
            Webhook(secret).verify(request.body, headers)
        with pytest.raises(ValueError):
            snippet(secret, headers, request.body)


def test_failures_are_retried_with_backoff_until_the_endpoint_answers_2xx(
    order, seller_a, receiver, enqueued
):
    receiver.statuses = [500, 503, 302]
    with freeze_time(T0) as clock:
        _endpoint, _secret, delivery = accepted_delivery(order, seller_a, receiver.url)
        enqueued.clear()

        assert deliver_webhook(delivery.pk) == "retry"
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.next_attempt_at == T0 + dt.timedelta(seconds=5)
        assert (delivery.last_response_code, delivery.last_error) == (500, "HTTP 500")
        assert enqueued == [(delivery.pk, 5.0)]  # a short wait rides on the task message

        # Not due yet: a message arriving early does nothing.
        assert deliver_webhook(delivery.pk) == "skipped"
        assert len(receiver.requests) == 1

        clock.move_to(T0 + dt.timedelta(seconds=5))
        assert deliver_webhook(delivery.pk) == "retry"
        delivery.refresh_from_db()
        assert delivery.next_attempt_at == T0 + dt.timedelta(seconds=5, minutes=5)

        # A redirect is not followed, and is not success.
        clock.move_to(delivery.next_attempt_at)
        assert deliver_webhook(delivery.pk) == "retry"
        delivery.refresh_from_db()
        assert delivery.last_response_code == 302
        assert delivery.next_attempt_at == T0 + dt.timedelta(seconds=5, minutes=35)
        assert [r.path for r in receiver.requests] == ["/hooks/"] * 3

        clock.move_to(delivery.next_attempt_at)
        assert deliver_webhook(delivery.pk) == "succeeded"

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 4
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.response_code, a.succeeded) for a in log] == [
        (1, 500, False),
        (2, 503, False),
        (3, 302, False),
        (4, 200, True),
    ]
    # Same message id and body every time; a fresh timestamp (and so signature) per attempt.
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {delivery.pk}
    assert len({r.body for r in receiver.requests}) == 1
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.requests]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    # Hours-long waits are left to the sweeper (never a long countdown on the broker).
    assert all(countdown is None or countdown <= 600 for _id, countdown in enqueued)


def test_it_gives_up_after_three_days(order, seller_a, receiver, enqueued):
    receiver.default = 500
    with freeze_time(T0) as clock:
        _endpoint, _secret, delivery = accepted_delivery(order, seller_a, receiver.url)
        outcome = deliver_webhook(delivery.pk)
        while outcome == "retry":
            delivery.refresh_from_db()
            clock.move_to(delivery.next_attempt_at)
            outcome = deliver_webhook(delivery.pk)

    assert outcome == "failed"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None
    # 0, +5 s, +5 min, +30 min, +2 h, +5 h, then every 10 h while within 3 days: 12 attempts.
    assert delivery.attempts == 12 == len(receiver.requests)
    assert delivery.last_attempt_at <= T0 + RETRY_WINDOW
    assert delivery.last_attempt_at > T0 + RETRY_WINDOW - dt.timedelta(hours=10)
    assert deliver_webhook(delivery.pk) == "skipped"  # final: a stray message sends nothing


def test_resend_sends_the_same_message_again_in_a_new_cycle(order, seller_a, receiver, enqueued):
    receiver.default = 500
    with freeze_time(T0) as clock:
        endpoint, _secret, delivery = accepted_delivery(order, seller_a, receiver.url)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, attempts=12, cycle_attempts=12
        )
        clock.move_to(T0 + dt.timedelta(days=4))
        receiver.default = 200
        new_secret = webhook_endpoint_roll_secret(endpoint=endpoint)
        enqueued.clear()

        resent = webhook_delivery_resend(delivery=delivery, actor=f"seller:{seller_a.pk}")

        assert resent.pk == delivery.pk and resent.status == DeliveryStatus.PENDING
        assert deliver_webhook(delivery.pk) == "succeeded"

    [request] = receiver.requests
    assert request.headers["webhook-id"] == delivery.pk
    assert request.body == canonical_json(delivery.payload)
    with freeze_time(T0 + dt.timedelta(days=4)):
        # Signed with the endpoint's current secret.
        assert Webhook(new_secret).verify(request.body, dict(request.headers))["type"] == (
            "order.accepted"
        )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.cycle_attempts) == ("succeeded", 13, 1)
    assert WebhookAttempt.objects.get(delivery=delivery, number=13).succeeded


def test_a_disabled_endpoint_gets_nothing(order, seller_a, receiver, enqueued):
    endpoint, _secret, delivery = accepted_delivery(order, seller_a, receiver.url)
    endpoint.is_active = False
    endpoint.save()

    assert deliver_webhook(delivery.pk) == "failed"

    assert receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.last_error == "endpoint disabled"


def test_payload_is_json_with_type_timestamp_and_data(order, seller_a, receiver, enqueued):
    _endpoint, _secret, delivery = accepted_delivery(order, seller_a, receiver.url)
    deliver_webhook(delivery.pk)
    body = json.loads(receiver.requests[0].body)
    assert set(body) == {"type", "timestamp", "data"}
    assert body["timestamp"].endswith("Z")
    assert body["data"]["order_id"] == str(order.pk)
    assert body["data"]["status"] == "accepted"


def test_a_slow_endpoint_times_out_and_is_retried(order, seller_a, receiver, enqueued, monkeypatch):
    from payments.webhooks import http as webhook_http

    monkeypatch.setattr(webhook_http, "TIMEOUT_S", 0.3)
    receiver.delay_s = 1.0
    _endpoint, _secret, delivery = accepted_delivery(order, seller_a, receiver.url)

    assert deliver_webhook(delivery.pk) == "retry"

    delivery.refresh_from_db()
    assert delivery.last_error == "timed out" and delivery.last_response_code is None
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None


def test_a_closed_port_is_a_failed_attempt(order, seller_a, enqueued):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _endpoint, _secret, delivery = accepted_delivery(
        order, seller_a, f"http://127.0.0.1:{port}/hook"
    )

    assert deliver_webhook(delivery.pk) == "retry"

    delivery.refresh_from_db()
    assert delivery.last_error.startswith("connection failed")
