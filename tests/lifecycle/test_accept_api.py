"""Seller orders API: list/retrieve with the sealed document, accept/reject/ship, the error
shape, Idempotency-Key, and 404 for another seller's order."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.services import api_key_create
from core import crypto
from payments.fulfilment.models import SealedOrderDocument
from payments.orders.models import OrderEvent
from tests.lifecycle.accept_fixtures import (
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    make_seller,
    own_keys,
    pay_by_card,
    place_order,
    snapshot,
    sub_order_of,
)

pytestmark = pytest.mark.django_db


def api_client(user) -> Client:
    _, key = api_key_create(owner=user, name="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def post(client, path, body, **headers):
    return client.post(
        f"/api/v1/{path}", json.dumps(body), content_type="application/json", headers=headers
    )


@pytest.fixture
def scene(key_pool):
    seller, other = make_seller(key_pool, dashboard=False), make_seller(key_pool, dashboard=False)
    keys = own_keys(key_pool, seller, encryption=True)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=2100), 1)])
    pay_by_card(order, buyer)
    theirs = place_order(buyer, [(make_product(other, price=900), 1)])
    pay_by_card(theirs, buyer)
    sub_order = sub_order_of(order, seller)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    signature = base64.b64encode(
        crypto.sign(keys.signing_private, document.document_bytes, algorithm="ed25519")
    ).decode()
    return {
        "client": api_client(seller),
        "keys": keys,
        "sub_order": sub_order,
        "document": document,
        "signature": signature,
        "theirs": sub_order_of(theirs, other),
    }


def test_list_and_retrieve_carry_the_sealed_document(scene):
    listing = scene["client"].get("/api/v1/seller/orders").json()
    assert [o["id"] for o in listing["results"]] == [scene["sub_order"].pk]
    detail = scene["client"].get(f"/api/v1/seller/orders/{scene['sub_order'].pk}").json()
    document = scene["document"]
    assert detail["document"]["sha256"] == document.sha256
    assert detail["document"]["key_id"] == str(scene["keys"].encryption.id)
    opened = crypto.open_sealed(
        scene["keys"].encryption_private,
        base64.b64decode(detail["document"]["sealed"]),
        associated_data=detail["document"]["associated_data"].encode(),
    )
    assert opened == document.document_bytes
    assert detail["status"] == "awaiting_acceptance" and detail["accept_by"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("post", "/accept", {"key_id": "x", "signature": "AA=="}),
        ("post", "/reject", {"reason": "mine"}),
        ("post", "/ship", {}),
    ],
)
def test_another_sellers_order_is_404(scene, method, suffix, body):
    theirs = scene["theirs"]
    path = f"seller/orders/{theirs.pk}{suffix}"
    before = snapshot(theirs)
    if method == "get":
        response = scene["client"].get(f"/api/v1/{path}")
    else:
        response = post(scene["client"], path, body)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "order_not_found"
    assert snapshot(theirs) == before


def test_a_bad_signature_is_a_400_in_the_error_shape_and_changes_nothing(scene):
    sub_order = scene["sub_order"]
    before = snapshot(sub_order)
    bad = base64.b64encode(b"\x00" * 64).decode()
    response = post(
        scene["client"],
        f"seller/orders/{sub_order.pk}/accept",
        {"key_id": str(scene["keys"].signing.id), "signature": bad},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("signature_invalid", "signature")
    response = post(
        scene["client"],
        f"seller/orders/{sub_order.pk}/accept",
        {"key_id": str(scene["keys"].signing.id), "signature": "%%%"},
    )
    assert response.json()["error"]["code"] == "signature_malformed"
    assert snapshot(sub_order) == before


def test_accept_with_an_idempotency_key_replays_and_a_second_accept_conflicts(scene):
    sub_order = scene["sub_order"]
    body = {"key_id": str(scene["keys"].signing.id), "signature": scene["signature"]}
    path = f"seller/orders/{sub_order.pk}/accept"
    first = post(scene["client"], path, body, **{"Idempotency-Key": "accept-1"})
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "accepted"
    assert first.json()["acceptance"]["signature"] == scene["signature"]
    again = post(scene["client"], path, body, **{"Idempotency-Key": "accept-1"})
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    conflict = post(scene["client"], path, body)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "already_accepted"
    assert OrderEvent.objects.filter(sub_order=sub_order, kind="order.accepted").count() == 1
    shipped = post(scene["client"], f"seller/orders/{sub_order.pk}/ship", {"tracking": "UPS 9"})
    assert shipped.status_code == 200 and shipped.json()["status"] == "shipped"


def test_reject_over_the_api(scene):
    sub_order = scene["sub_order"]
    path = f"seller/orders/{sub_order.pk}/reject"
    missing = post(scene["client"], path, {})
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "reason"
    rejected = post(scene["client"], path, {"reason": "Out of stock"}, **{"Idempotency-Key": "r1"})
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["rejection_reason"]) == (
        "rejected",
        "Out of stock",
    )


def test_buyers_have_no_seller_orders(scene):
    response = api_client(make_buyer()).get("/api/v1/seller/orders")
    assert response.status_code == 403


def test_the_schema_generates_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    assert "/api/v1/seller/orders/{sub_order_id}/accept" in (tmp_path / "schema.yaml").read_text()
