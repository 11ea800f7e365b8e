"""One integer rule for every amount the payment side takes (core.integers): a refund's
amount_minor and a capture's sub_order_amounts are JSON integers, never text, booleans or
floats; a refusal is a 400 in the one error shape, naming the field, and writes nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from ledger.models import Transfer
from payments.fulfilment.models import Refund
from payments.models import Payment
from tests.lifecycle.release_fixtures import (
    paid_order,
    refund_tasks,  # noqa: F401  (fixture)
)
from tests.payments.pay_factories import make_order, make_user
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC

pytestmark = pytest.mark.django_db

NOT_INTEGERS = ["2500", "0001", True, 2500.0, 25e2, None, [2500]]


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def assert_invalid(response, field: str) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid", field)


@pytest.mark.parametrize("amount", NOT_INTEGERS)
def test_a_refund_amount_that_is_not_a_json_integer_is_refused(buyer, refund_tasks, amount):  # noqa: F811
    _order, _payment, [sub] = paid_order(buyer=buyer)
    transfers = Transfer.objects.count()
    response = api(sub.seller).post(
        f"/api/v1/orders/{sub.order_id}/sub-orders/{sub.pk}/refunds",
        {"amount_minor": amount, "reason": "Scratched"},
        format="json",
    )
    assert_invalid(response, "amount_minor")
    assert Refund.objects.count() == 0
    assert Transfer.objects.count() == transfers
    assert refund_tasks == []


@pytest.mark.parametrize("amount", ["1500", True, 1500.0, -1, 10**20])
def test_a_capture_amount_that_is_not_a_json_integer_within_the_hold_is_refused(buyer, amount):
    order = make_order(buyer=buyer)
    paid = api(buyer).post(
        "/api/v1/payments/",
        {
            "order": str(order.pk),
            "method": "card",
            "card": {"number": SUCCESS, "exp_month": "12", "exp_year": "2030", "cvc": TEST_CVC},
        },
        format="json",
    )
    assert paid.json()["status"] == "authorized", paid.content
    sub = order.sub_orders.order_by("id").first()
    transfers = Transfer.objects.count()
    response = api(make_user("staff")).post(
        f"/api/v1/payments/{paid.json()['id']}/capture/",
        {"sub_order_amounts": {str(sub.pk): amount}},
        format="json",
    )
    assert_invalid(response, "sub_order_amounts")
    assert Payment.objects.get().status == "authorized"
    assert Transfer.objects.count() == transfers
