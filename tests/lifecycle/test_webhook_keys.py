"""Webhook secrets at rest: AES-GCM bound to the endpoint, master key rotation, admin hides them."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.core.management import call_command
from django.test import Client
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from payments.dispatch.tasks import dispatch_order_event
from payments.models import WebhookDelivery, WebhookEndpoint
from payments.webhooks.signing import (
    WebhookSecretUnreadable,
    endpoint_secret,
    new_secret,
    webhook_rotate_keys,
)
from payments.webhooks.tasks import deliver_webhook
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import make_endpoint, readme_verify, record, sub_order_of
from tests.two_factor import verify_second_factor

pytestmark = pytest.mark.django_db

OLD_RING = "test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
NEW_KEY = "test2:" + base64.b64encode(bytes(range(100, 132))).decode()


def test_secrets_are_whsec_base64_of_32_random_bytes():
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
        Webhook(secret)  # the library accepts it


def test_ciphertext_moved_to_another_endpoint_does_not_decrypt(seller_a):
    first, _ = make_endpoint(seller_a, "https://a.example.test/")
    second, _ = make_endpoint(seller_a, "https://b.example.test/")
    WebhookEndpoint.objects.filter(pk=second.pk).update(
        secret_ciphertext=first.secret_ciphertext,
        secret_wrapped_key=first.secret_wrapped_key,
        secret_key_id=first.secret_key_id,
    )
    second.refresh_from_db()
    with pytest.raises(WebhookSecretUnreadable):
        endpoint_secret(second)


def test_an_unreadable_secret_is_a_failed_attempt_not_a_stuck_task(
    order, seller_a, receiver, enqueued
):
    endpoint, _ = make_endpoint(seller_a, receiver.url)
    dispatch_order_event(
        record(order, "order.accepted", sub_order=sub_order_of(order, seller_a)).pk
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret_ciphertext=b"\x01" + b"0" * 40)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    assert deliver_webhook(delivery.pk) == "retry"

    assert receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.last_error == "signing secret unreadable"


def test_rotation_rewraps_secrets_under_the_newest_master_key(seller_a, settings):
    settings.CLEARHOUSE_MASTER_KEYS = OLD_RING
    endpoint, secret = make_endpoint(seller_a, "https://a.example.test/")
    ciphertext = bytes(endpoint.secret_ciphertext)
    assert endpoint.secret_key_id == "test1"

    settings.CLEARHOUSE_MASTER_KEYS = f"{NEW_KEY},{OLD_RING}"
    report = webhook_rotate_keys()

    assert (report.newest_key_id, report.rotated, report.failed) == ("test2", 1, 0)
    endpoint.refresh_from_db()
    assert endpoint.secret_key_id == "test2"
    assert bytes(endpoint.secret_ciphertext) == ciphertext  # only the data key was re-wrapped
    settings.CLEARHOUSE_MASTER_KEYS = NEW_KEY  # the old key can go now
    assert endpoint_secret(endpoint) == secret
    assert webhook_rotate_keys().rotated == 0


def test_the_rotate_keys_command_includes_webhook_secrets(seller_a, settings, capsys):
    settings.CLEARHOUSE_MASTER_KEYS = OLD_RING
    make_endpoint(seller_a, "https://a.example.test/")
    settings.CLEARHOUSE_MASTER_KEYS = f"{NEW_KEY},{OLD_RING}"
    call_command("rotate_keys")
    assert "webhook secrets: 1 re-wrapped, 0 failed" in capsys.readouterr().out


def test_admin_shows_endpoints_and_deliveries_without_the_secret(order, seller_a, staff, enqueued):
    staff.is_superuser = True
    staff.save()
    endpoint, secret = make_endpoint(seller_a, "https://a.example.test/")
    dispatch_order_event(
        record(order, "order.accepted", sub_order=sub_order_of(order, seller_a)).pk
    )
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    client = verify_second_factor(Client(), staff)
    for url in (
        "/admin/payments/webhookendpoint/",
        f"/admin/payments/webhookendpoint/{endpoint.pk}/change/",
        "/admin/payments/webhookdelivery/",
        f"/admin/payments/webhookdelivery/{delivery.pk}/change/",
        "/admin/payments/emailnotification/",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert secret not in page.content.decode()


def _deliver_one(order, seller, endpoint, kind="order.shipped"):
    dispatch_order_event(record(order, kind, sub_order=sub_order_of(order, seller)).pk)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event_type=kind)
    assert deliver_webhook(delivery.pk) == "succeeded"
    return delivery


def test_after_a_roll_both_secrets_verify_for_24_hours_then_only_the_new_one(
    order, seller_a, receiver, enqueued
):
    from freezegun import freeze_time

    from payments.webhooks.endpoints import webhook_endpoint_roll_secret

    T0 = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
    with freeze_time(T0) as clock:
        endpoint, old_secret = make_endpoint(seller_a, receiver.url)
        new_secret = webhook_endpoint_roll_secret(endpoint=endpoint)
        _deliver_one(order, seller_a, endpoint, "order.shipped")
        request = receiver.requests[-1]
        assert len(request.headers["webhook-signature"].split()) == 2
        for secret in (old_secret, new_secret):
            Webhook(secret).verify(request.body, dict(request.headers))
            readme_verify()(secret, dict(request.headers), request.body)

        clock.move_to(T0 + dt.timedelta(hours=24, seconds=1))
        _deliver_one(order, seller_a, endpoint, "order.confirmed")
        request = receiver.requests[-1]
        assert len(request.headers["webhook-signature"].split()) == 1
        Webhook(new_secret).verify(request.body, dict(request.headers))
        with pytest.raises(WebhookVerificationError):
            Webhook(old_secret).verify(request.body, dict(request.headers))


def test_a_leaked_secret_stops_signing_at_once(order, seller_a, receiver, enqueued):
    from payments.webhooks.endpoints import webhook_endpoint_roll_secret

    endpoint, old_secret = make_endpoint(seller_a, receiver.url)
    webhook_endpoint_roll_secret(endpoint=endpoint)  # a normal roll first: grace for that one
    newest = webhook_endpoint_roll_secret(endpoint=endpoint, expire_old_now=True)
    _deliver_one(order, seller_a, endpoint)
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split()) == 1
    Webhook(newest).verify(request.body, dict(request.headers))
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(request.body, dict(request.headers))


def test_rotation_rewraps_the_previous_secret_too(seller_a, settings):
    from payments.webhooks.endpoints import webhook_endpoint_roll_secret
    from payments.webhooks.signing import signing_secrets

    settings.CLEARHOUSE_MASTER_KEYS = OLD_RING
    endpoint, old_secret = make_endpoint(seller_a, "https://a.example.test/")
    new_secret = webhook_endpoint_roll_secret(endpoint=endpoint)
    settings.CLEARHOUSE_MASTER_KEYS = f"{NEW_KEY},{OLD_RING}"
    assert webhook_rotate_keys().rotated == 1
    settings.CLEARHOUSE_MASTER_KEYS = NEW_KEY
    endpoint.refresh_from_db()
    assert endpoint.previous_secret_key_id == "test2"
    assert signing_secrets(endpoint) == [new_secret, old_secret]
