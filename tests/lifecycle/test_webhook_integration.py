"""End to end with a real Celery worker: an event committed in a transaction reaches a local HTTP
receiver as a signed webhook (dispatch and delivery both run in the worker process)."""

from __future__ import annotations

import time

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from payments.models import EmailNotification, WebhookDelivery
from payments.orders.events import record_order_event
from payments.orders.models import OrderEvent
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import make_endpoint, readme_verify, sub_order_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAIT_S = 45


def wait_for(condition, what: str, worker) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {WAIT_S} s; worker log:\n{worker.log_tail()}", pytrace=False)


def test_a_committed_event_is_delivered_signed_by_the_worker(
    celery_worker, order, seller_a, seller_b, receiver
):
    endpoint, secret = make_endpoint(seller_a, receiver.url, ["order.accepted"])
    make_endpoint(seller_b, receiver.url + "b/")  # seller B must receive nothing of A's
    sub_order = sub_order_of(order, seller_a)

    with transaction.atomic():
        event = record_order_event(
            order=order,
            sub_order=sub_order,
            kind="order.accepted",
            actor=f"seller:{seller_a.pk}",
            data={"status": "accepted"},
        )

    wait_for(lambda: receiver.requests, "no webhook arrived", celery_worker)
    [request] = receiver.requests
    assert request.path == "/hooks/"
    payload = Webhook(secret).verify(request.body, dict(request.headers))
    readme_verify()(secret, dict(request.headers), request.body)
    assert payload["type"] == "order.accepted"
    assert payload["data"]["event_id"] == event.pk
    assert payload["data"]["sub_order_id"] == sub_order.pk

    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.endpoint_id == endpoint.pk
    assert request.headers["webhook-id"] == delivery.pk
    wait_for(
        lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status="succeeded").exists(),
        "the delivery was not marked succeeded",
        celery_worker,
    )
    wait_for(
        lambda: OrderEvent.objects.filter(pk=event.pk, dispatched_at__isnull=False).exists(),
        "the event was not stamped dispatched",
        celery_worker,
    )
    # Buyer and seller A were mailed (once each) by the same dispatch.
    assert set(EmailNotification.objects.filter(event=event).values_list("role", flat=True)) == {
        "buyer",
        "seller",
    }
    time.sleep(0.5)
    assert len(receiver.requests) == 1
