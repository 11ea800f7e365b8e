"""Webhook endpoints and deliveries over the API: CRUD, secret shown once, resend, ownership."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from payments.dispatch.tasks import dispatch_order_event
from payments.models import WebhookDelivery, WebhookEndpoint
from payments.webhooks.models import DeliveryStatus
from payments.webhooks.signing import endpoint_secret
from payments.webhooks.tasks import deliver_webhook
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import make_endpoint, record, sub_order_of

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.test/clearhouse"
BASE = "/api/v1/webhook-endpoints/"


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_seller_registers_an_endpoint_and_sees_the_secret_only_once(seller_a):
    client = api(seller_a)
    response = client.post(
        BASE,
        {"url": URL, "description": "orders", "event_types": ["order.accepted", "order.shipped"]},
        format="json",
    )

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert response["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert endpoint_secret(endpoint) == created["secret"]
    assert created["event_types"] == ["order.accepted", "order.shipped"]
    assert created["is_active"] is True and created["object"] == "webhook_endpoint"

    listed = client.get(BASE).json()["results"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in client.get(f"{BASE}{created['id']}/").json()
    # The secret never reaches the database in clear.
    assert created["secret"].encode() not in bytes(endpoint.secret_ciphertext)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.test/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": URL, "event_types": ["order.nope"]}, "event_types"),
        ({"url": URL, "event_types": "order.accepted"}, "event_types"),
        ({"url": URL, "secret": "whsec_mine"}, "secret"),
        ({}, "url"),
    ],
)
def test_bad_input_is_refused_in_the_error_shape_and_changes_nothing(seller_a, body, field):
    response = api(seller_a).post(BASE, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == field
    assert not WebhookEndpoint.objects.exists()


def test_private_urls_are_refused_in_production_mode(seller_a, settings):
    settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = False
    response = api(seller_a).post(BASE, {"url": "http://169.254.169.254/"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_url_not_allowed"


def test_buyers_have_no_webhooks_and_staff_cannot_create(buyer, staff):
    assert api(buyer).get(BASE).status_code == 403
    assert api(buyer).post(BASE, {"url": URL}, format="json").status_code == 403
    assert api(staff).post(BASE, {"url": URL}, format="json").status_code == 403


def test_update_disable_roll_and_delete(seller_a):
    client = api(seller_a)
    endpoint, old_secret = make_endpoint(seller_a, URL)
    url = f"{BASE}{endpoint.pk}/"

    response = client.patch(
        url, {"event_types": ["*"], "is_active": False, "description": "x"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["event_types"] == [] and response.json()["is_active"] is False
    assert client.patch(url, {"url": "gopher://x"}, format="json").status_code == 400
    endpoint.refresh_from_db()
    assert endpoint.url == URL  # bad input changed nothing

    rolled = client.post(f"{url}roll-secret/")
    assert rolled.status_code == 200
    new_secret = rolled.json()["secret"]
    assert new_secret != old_secret
    endpoint.refresh_from_db()
    assert endpoint_secret(endpoint) == new_secret

    assert rolled.json()["previous_secret_expires_at"] is not None  # the old one signs 24 h
    leaked = client.post(f"{url}roll-secret/", {"expire_old_now": True}, format="json")
    assert leaked.status_code == 200 and leaked.json()["previous_secret_expires_at"] is None
    bad = client.post(f"{url}roll-secret/", {"expire_old_now": "maybe"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "expire_old_now"
    endpoint.refresh_from_db()
    assert endpoint_secret(endpoint) == leaked.json()["secret"]  # bad input changed nothing

    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert client.get(BASE).json()["results"] == []
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk, deleted_at__isnull=False).exists()


def test_another_seller_gets_404_everywhere(seller_a, seller_b, order):
    endpoint, _ = make_endpoint(seller_a, URL)
    event = record(order, "order.accepted", sub_order=sub_order_of(order, seller_a))
    dispatch_order_event(event.pk)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    client = api(seller_b)
    url = f"{BASE}{endpoint.pk}/"
    assert client.get(url).status_code == 404
    assert client.patch(url, {"description": "mine"}, format="json").status_code == 404
    assert client.delete(url).status_code == 404
    assert client.post(f"{url}roll-secret/").status_code == 404
    assert client.get(f"{url}deliveries/").status_code == 404
    assert client.get(f"{url}deliveries/{delivery.pk}/").status_code == 404
    assert client.post(f"{url}deliveries/{delivery.pk}/resend/").status_code == 404
    assert client.get(BASE).json()["results"] == []
    endpoint.refresh_from_db()
    assert endpoint.deleted_at is None and endpoint.description == ""


def test_deliveries_list_detail_and_resend(seller_a, order, receiver, enqueued):
    endpoint, secret = make_endpoint(seller_a, receiver.url)
    event = record(order, "order.shipped", sub_order=sub_order_of(order, seller_a))
    dispatch_order_event(event.pk)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    deliver_webhook(delivery.pk)
    client = api(seller_a)
    base = f"{BASE}{endpoint.pk}/deliveries/"

    [listed] = client.get(base).json()["results"]
    assert listed["id"] == delivery.pk and listed["status"] == "succeeded"
    assert listed["event_type"] == "order.shipped" and listed["last_response_code"] == 200
    detail = client.get(f"{base}{delivery.pk}/").json()
    assert [a["response_code"] for a in detail["attempt_log"]] == [200]
    assert client.get(f"{base}msg_nope/").status_code == 404

    response = client.post(f"{base}{delivery.pk}/resend/")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert deliver_webhook(delivery.pk) == "succeeded"
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.pk
    assert first.body == second.body
    Webhook(secret).verify(second.body, dict(second.headers))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 2


def test_resend_to_a_disabled_endpoint_is_a_conflict(seller_a, order, enqueued):
    endpoint, _ = make_endpoint(seller_a, URL)
    dispatch_order_event(record(order, "order.shipped", sub_order=sub_order_of(order, seller_a)).pk)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    api(seller_a).patch(f"{BASE}{endpoint.pk}/", {"is_active": False}, format="json")
    response = api(seller_a).post(f"{BASE}{endpoint.pk}/deliveries/{delivery.pk}/resend/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "webhook_endpoint_disabled"


def test_staff_read_every_endpoint_but_do_not_change_it(seller_a, staff):
    endpoint, _ = make_endpoint(seller_a, URL)
    client = api(staff)
    assert [e["id"] for e in client.get(BASE).json()["results"]] == [str(endpoint.pk)]
    assert client.get(f"{BASE}{endpoint.pk}/").status_code == 200
    assert client.delete(f"{BASE}{endpoint.pk}/").status_code == 403


def test_the_openapi_schema_validates_without_warnings():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_a_retry_with_the_same_idempotency_key_creates_nothing_and_never_stores_the_secret(
    seller_a,
):
    from core.models import IdempotencyKey

    client = api(seller_a)
    body = {"url": URL}
    first = client.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 201
    secret = first.json()["secret"]
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "idempotent_replay_withheld"
    assert WebhookEndpoint.objects.count() == 1
    stored = b"".join(bytes(row.response_body or b"") for row in IdempotencyKey.objects.all())
    assert secret.encode() not in stored

    rolled = client.post(f"{BASE}{first.json()['id']}/roll-secret/", HTTP_IDEMPOTENCY_KEY="k-2")
    assert rolled.status_code == 200
    stored = b"".join(bytes(row.response_body or b"") for row in IdempotencyKey.objects.all())
    assert rolled.json()["secret"].encode() not in stored
