"""Seller webhook pages: list, create (secret once), detail with deliveries, resend, roll,
disable/enable, delete; other sellers get 404; CSRF is enforced."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from payments.dispatch.tasks import dispatch_order_event
from payments.models import WebhookDelivery, WebhookEndpoint
from payments.webhooks.signing import endpoint_secret
from payments.webhooks.tasks import deliver_webhook
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import make_endpoint, record, sub_order_of

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.test/clearhouse"


def login(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_the_nav_links_sellers_to_their_webhooks(seller_a, buyer):
    page = login(seller_a).get(reverse("payments:seller_webhooks"))
    assert page.status_code == 200
    assert 'href="/seller/webhooks/"' in page.content.decode()
    assert "/seller/webhooks/" not in login(buyer).get("/").content.decode()


def test_create_shows_the_secret_once_then_never_again(seller_a):
    client = login(seller_a)
    assert client.get(reverse("payments:seller_webhook_new")).status_code == 200

    page = client.post(
        reverse("payments:seller_webhook_new"),
        {"url": URL, "description": "shop", "event_types": ["order.accepted", "order.shipped"]},
    )

    assert page.status_code == 200
    assert page["Cache-Control"].startswith("no-store")
    endpoint = WebhookEndpoint.objects.get(seller=seller_a)
    secret = endpoint_secret(endpoint)
    html = page.content.decode()
    assert secret in html and "shown this once" in html
    assert endpoint.event_types == ["order.accepted", "order.shipped"]
    for url in (
        reverse("payments:seller_webhooks"),
        reverse("payments:seller_webhook", args=[endpoint.pk]),
    ):
        shown = client.get(url).content.decode()
        assert URL in shown and secret not in shown


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "ftp://hooks.example.test/"}, "must start with https://"),
        ({"url": ""}, "This field is required."),
        ({"url": URL, "event_types": ["order.nope"]}, "Select a valid choice"),
    ],
)
def test_errors_show_beside_the_field_and_nothing_is_created(seller_a, data, message):
    page = login(seller_a).post(reverse("payments:seller_webhook_new"), data)
    assert page.status_code == 400
    html = page.content.decode()
    assert message in html and "errorlist" in html
    assert not WebhookEndpoint.objects.exists()


def test_a_private_url_is_refused_beside_the_url_field_in_production_mode(seller_a, settings):
    settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = False
    page = login(seller_a).post(
        reverse("payments:seller_webhook_new"), {"url": "http://10.0.0.7/hook"}
    )
    assert page.status_code == 400
    assert re.search(r'id="id_url_error"><li>The URL points to a private', page.content.decode())


def test_detail_lists_deliveries_and_resend_sends_again(seller_a, order, receiver, enqueued):
    endpoint, _secret = make_endpoint(seller_a, receiver.url)
    receiver.statuses = [500]
    dispatch_order_event(
        record(order, "order.accepted", sub_order=sub_order_of(order, seller_a)).pk
    )
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    deliver_webhook(delivery.pk)
    client = login(seller_a)

    html = client.get(reverse("payments:seller_webhook", args=[endpoint.pk])).content.decode()
    row = html.split(f'data-testid="delivery-{delivery.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "order.accepted" in row and "Pending" in row and "HTTP 500" in row and " ms" in row
    assert ">1<" in row  # one attempt

    page = client.post(
        reverse("payments:seller_webhook_resend", args=[endpoint.pk, delivery.pk]), follow=True
    )
    assert "will be sent again" in page.content.decode()
    assert deliver_webhook(delivery.pk) == "succeeded"
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.pk] * 2
    html = client.get(reverse("payments:seller_webhook", args=[endpoint.pk])).content.decode()
    assert "Succeeded" in html and "HTTP 200" in html


def test_roll_disable_enable_and_delete(seller_a):
    endpoint, old_secret = make_endpoint(seller_a, URL)
    client = login(seller_a)

    page = client.post(reverse("payments:seller_webhook_roll", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    new_secret = endpoint_secret(endpoint)
    assert new_secret != old_secret and new_secret in page.content.decode()
    assert "The old secret keeps signing too" in page.content.decode()
    page = client.post(
        reverse("payments:seller_webhook_roll", args=[endpoint.pk]), {"expire_old_now": "1"}
    )
    assert "The old secret no longer signs" in page.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.previous_secret_expires_at is None

    client.post(reverse("payments:seller_webhook_toggle", args=[endpoint.pk]), {"active": "0"})
    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    client.post(reverse("payments:seller_webhook_toggle", args=[endpoint.pk]), {"active": "1"})
    endpoint.refresh_from_db()
    assert endpoint.is_active is True

    confirm = client.get(reverse("payments:seller_webhook_delete", args=[endpoint.pk]))
    assert "Delete the endpoint" in confirm.content.decode()
    client.post(reverse("payments:seller_webhook_delete", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert endpoint.deleted_at is not None
    assert client.get(reverse("payments:seller_webhook", args=[endpoint.pk])).status_code == 404
    assert "No endpoints yet" in client.get(reverse("payments:seller_webhooks")).content.decode()


def test_another_seller_gets_404_on_every_page(seller_a, seller_b, order, enqueued):
    endpoint, _ = make_endpoint(seller_a, URL)
    dispatch_order_event(
        record(order, "order.accepted", sub_order=sub_order_of(order, seller_a)).pk
    )
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    client = login(seller_b)
    assert client.get(reverse("payments:seller_webhook", args=[endpoint.pk])).status_code == 404
    for name, args in (
        ("payments:seller_webhook_roll", [endpoint.pk]),
        ("payments:seller_webhook_toggle", [endpoint.pk]),
        ("payments:seller_webhook_delete", [endpoint.pk]),
        ("payments:seller_webhook_resend", [endpoint.pk, delivery.pk]),
    ):
        assert client.post(reverse(name, args=args), {"active": "0"}).status_code == 404
    endpoint.refresh_from_db()
    assert (
        endpoint.is_live
        and URL not in client.get(reverse("payments:seller_webhooks")).content.decode()
    )


def test_buyers_cannot_use_the_pages(buyer):
    assert login(buyer).get(reverse("payments:seller_webhooks")).status_code == 403


def test_posts_without_a_csrf_token_are_refused(seller_a):
    endpoint, _ = make_endpoint(seller_a, URL)
    client = login(seller_a, enforce_csrf_checks=True)
    assert client.post(reverse("payments:seller_webhook_new"), {"url": URL}).status_code == 403
    response = client.post(reverse("payments:seller_webhook_delete", args=[endpoint.pk]))
    assert response.status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.deleted_at is None
    assert WebhookEndpoint.objects.count() == 1
