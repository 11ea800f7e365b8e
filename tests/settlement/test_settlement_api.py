"""The settlement API: a seller reads its own batches and payouts (with lines that sum to the
net), never another's; staff read all; bad filters are a 400 in the one error shape."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from settlement.batches import create_batches
from settlement.payouts import services
from tests.accounts.factories import BuyerFactory, SellerFactory, StaffFactory
from tests.settlement.fake_bank import FakeBank
from tests.settlement.test_batches import MONDAY, PLANS, refund_from_available, sale

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def paid_seller():
    with override_settings(CLEARHOUSE_FEE_PLANS=PLANS):
        seller = SellerFactory()
        sale(seller, 8_000)
        sale(seller, 2_000)
        refund_from_available(seller, 500)
        (batch,) = create_batches(day=MONDAY, sellers=[seller.pk])
        (payout_id,) = services.create_payouts([batch.pk])
        services.submit(payout_id, FakeBank(settle_as="paid"))
        return seller, batch, payout_id


def test_a_seller_reads_its_payout_with_lines_that_sum_to_the_amount(paid_seller):
    seller, batch, payout_id = paid_seller
    client = client_for(seller)
    listing = client.get("/api/v1/payouts/").json()
    assert [p["id"] for p in listing["results"]] == [str(payout_id)]
    assert listing["results"][0]["status"] == "paid"
    assert listing["results"][0]["iban_last4"] == "3000"

    detail = client.get(f"/api/v1/payouts/{payout_id}/").json()
    assert detail["amount_minor"] == 9_500
    assert sorted(line["kind"] for line in detail["lines"]) == ["refund", "sale", "sale"]
    assert sum(line["amount_minor"] for line in detail["lines"]) == 9_500
    assert [h["kind"] for h in detail["history"]] == ["paid"]
    assert "iban" not in detail

    batches = client.get("/api/v1/settlement-batches/").json()["results"]
    assert [b["id"] for b in batches] == [str(batch.pk)]
    one = client.get(f"/api/v1/settlement-batches/{batch.pk}/").json()
    assert one["net_minor"] == 9_500 and one["payouts"][0]["status"] == "paid"


def test_another_seller_or_a_buyer_sees_nothing_and_staff_sees_all(paid_seller):
    _seller, batch, payout_id = paid_seller
    for outsider in (SellerFactory(), BuyerFactory()):
        client = client_for(outsider)
        assert client.get("/api/v1/payouts/").json()["results"] == []
        response = client.get(f"/api/v1/payouts/{payout_id}/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert client.get(f"/api/v1/settlement-batches/{batch.pk}/").status_code == 404
    staff = client_for(StaffFactory())
    assert staff.get(f"/api/v1/payouts/{payout_id}/").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=sent", "status"), ("currency=eur", "currency"), ("currency=EURO", "currency")],
)
def test_a_bad_filter_is_a_clear_400(paid_seller, query, field):
    seller, _, _ = paid_seller
    response = client_for(seller).get(f"/api/v1/payouts/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_anonymous_callers_are_refused():
    assert APIClient().get("/api/v1/payouts/").status_code in (401, 403)
