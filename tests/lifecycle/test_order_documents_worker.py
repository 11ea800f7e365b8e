"""End to end with a real Celery worker: paying commits without the documents; the sealing task the
commit publishes makes and seals them in the worker, and the events of the payment's transaction
and of the worker's sealing go out through the batched dispatch task."""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.test import Client

from accounts.services import api_key_create
from core import crypto
from payments.flows.start import payment_start
from payments.fulfilment.models import SealedOrderDocument
from payments.orders.models import OrderEvent
from tests.lifecycle.accept_fixtures import (
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    make_seller,
    own_keys,
    place_order,
    sub_order_of,
)
from tests.lifecycle.lifecycle_fixtures import card

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAIT_S = 45


def wait_for(condition, what: str, worker) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {WAIT_S} s; worker log:\n{worker.log_tail()}", pytrace=False)


def test_the_worker_seals_the_documents_and_the_seller_accepts(celery_worker, key_pool):
    sellers = [make_seller(key_pool, dashboard=False) for _ in range(2)]
    keys = {s.pk: own_keys(key_pool, s, encryption=True) for s in sellers}
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(s, price=1100), 1) for s in sellers])

    payment_start(order=order, method="card", card=card(), actor=f"buyer:{buyer.pk}")

    documents = SealedOrderDocument.objects.filter(sub_order__order=order, sealed__isnull=False)
    wait_for(
        lambda: documents.count() == 2, "the worker did not seal both documents", celery_worker
    )
    events = OrderEvent.objects.filter(order=order)
    wait_for(
        lambda: events.count() == 5 and not events.filter(dispatched_at__isnull=True).exists(),
        "the events were not all dispatched",
        celery_worker,
    )
    assert sorted(events.values_list("kind", flat=True)) == [
        "order.paid",
        "order.paid",
        "order.sealed",
        "order.sealed",
        "payment.authorized",
    ]

    seller = sellers[0]
    sub_order = sub_order_of(order, seller)
    _, api_key = api_key_create(owner=seller, name="test")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    detail = client.get(f"/api/v1/seller/orders/{sub_order.pk}").json()["document"]
    opened = crypto.open_sealed(
        keys[seller.pk].encryption_private,
        base64.b64decode(detail["sealed"]),
        associated_data=detail["associated_data"].encode(),
    )
    signature = crypto.sign(keys[seller.pk].signing_private, opened, algorithm="ed25519")
    response = client.post(
        f"/api/v1/seller/orders/{sub_order.pk}/accept",
        json.dumps(
            {
                "key_id": str(keys[seller.pk].signing.id),
                "signature": base64.b64encode(signature).decode(),
            }
        ),
        content_type="application/json",
        headers={"Idempotency-Key": "accept-worker"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "accepted"
