"""The release API: confirm, dispute, refunds; others' objects answer 404; POSTs idempotent."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from payments.fulfilment.models import Refund
from tests.lifecycle.release_fixtures import *  # noqa: F403
from tests.lifecycle.release_fixtures import balance, make_seller, paid_order, reload
from tests.payments.pay_factories import make_user

pytestmark = pytest.mark.django_db


def api(user):
    client = APIClient()
    client.force_login(user)
    return client


def url(sub, action):
    return f"/api/v1/orders/{sub.order_id}/sub-orders/{sub.pk}/{action}"


def error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code
    if field:
        assert body["field"] == field
    return body


def test_buyer_confirms_through_the_api(buyer):
    seller = make_seller("standard")
    _order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller])
    response = api(buyer).post(url(sub, "confirm"), {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["fee_minor"]) == ("confirmed", 290)
    assert balance(f"seller:{seller.pk}:pending") == 9710


def test_confirm_before_acceptance_is_a_409(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer, status="awaiting_acceptance")
    error(api(buyer).post(url(sub, "confirm"), {}, format="json"), 409, "not_accepted")
    assert reload(sub).status == "awaiting_acceptance"


def test_another_buyer_gets_404_for_confirm_and_dispute(buyer, other_buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    client = api(other_buyer)
    error(client.post(url(sub, "confirm"), {}, format="json"), 404, "order_not_found")
    error(client.post(url(sub, "dispute"), {"reason": "x"}, format="json"), 404, "order_not_found")
    # The seller cannot confirm on the buyer's behalf either.
    error(api(sub.seller).post(url(sub, "confirm"), {}, format="json"), 404, "order_not_found")
    assert reload(sub).status == "shipped"


def test_sub_order_of_another_order_is_404(buyer):
    _o1, _p1, [sub_a] = paid_order(buyer=buyer)
    _o2, _p2, [sub_b] = paid_order(buyer=buyer)
    wrong = f"/api/v1/orders/{sub_a.order_id}/sub-orders/{sub_b.pk}/confirm"
    error(api(buyer).post(wrong, {}, format="json"), 404, "order_not_found")


def test_dispute_needs_a_reason(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    client = api(buyer)
    error(client.post(url(sub, "dispute"), {}, format="json"), 400, "invalid", "reason")
    response = client.post(url(sub, "dispute"), {"reason": "Never arrived"}, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "open"
    assert reload(sub).status == "disputed"


def test_seller_refunds_and_everyone_concerned_reads_them(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    seller = sub.seller
    response = api(seller).post(
        url(sub, "refunds"), {"amount_minor": 2500, "reason": "Scratched"}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["status"], created["amount_minor"], created["source"]) == (
        "pending",
        2500,
        "escrow",
    )
    for user in (buyer, seller, make_user("staff")):
        listed = api(user).get(url(sub, "refunds")).json()["data"]
        assert [r["id"] for r in listed] == [created["id"]]
        assert api(user).get(f"/api/v1/refunds/{created['id']}").status_code == 200
        assert [r["id"] for r in api(user).get("/api/v1/refunds").json()["results"]] == [
            created["id"]
        ]


def test_seller_a_cannot_refund_seller_bs_order(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    other_seller = make_seller()
    response = api(other_seller).post(
        url(sub, "refunds"), {"amount_minor": 100, "reason": "x"}, format="json"
    )
    error(response, 404, "order_not_found")
    error(
        api(buyer).post(url(sub, "refunds"), {"amount_minor": 1, "reason": "x"}, format="json"),
        404,
        "order_not_found",
    )
    assert not Refund.objects.exists()
    assert api(other_seller).get(url(sub, "refunds")).status_code == 404


def test_others_cannot_read_a_refund(buyer, other_buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    response = api(sub.seller).post(
        url(sub, "refunds"), {"amount_minor": 100, "reason": "x"}, format="json"
    )
    refund_id = response.json()["id"]
    for user in (other_buyer, make_seller()):
        error(api(user).get(f"/api/v1/refunds/{refund_id}"), 404, "refund_not_found")
        assert api(user).get("/api/v1/refunds").json()["results"] == []


def test_refund_above_remaining_is_a_400_on_the_amount(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(1000,))
    response = api(sub.seller).post(
        url(sub, "refunds"), {"amount_minor": 1001, "reason": "x"}, format="json"
    )
    error(response, 400, "refund_exceeds_captured", "amount_minor")
    bad = api(sub.seller).post(
        url(sub, "refunds"), {"amount_minor": "10", "reason": "x"}, format="json"
    )
    error(bad, 400, "invalid", "amount_minor")
    assert not Refund.objects.exists()


def test_refund_post_is_idempotent_with_the_key(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    client = api(sub.seller)
    key = str(uuid.uuid4())
    body = {"amount_minor": 700, "reason": "Late"}
    first = client.post(url(sub, "refunds"), body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = client.post(url(sub, "refunds"), body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert Refund.objects.count() == 1
