"""payment_json (the hand-built answer of the payment calls) says exactly what PaymentSerializer
says, for every method and status a payment call can answer with, to its buyer and to others."""

from __future__ import annotations

import pytest
from rest_framework.test import APIRequestFactory

from payments.flows.api import PaymentSerializer
from payments.flows.json_shape import payment_json
from payments.flows.start import payment_start
from payments.models import Payment, PaymentMethod
from tests.payments.pay_factories import make_order
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC, THREE_DS

pytestmark = pytest.mark.django_db


def _card(number: str):
    from payments.vault.cards import validate_card

    return validate_card(number=number, exp_month="12", exp_year="2034", cvc=TEST_CVC)


def _serializer_view(payment: Payment, user) -> dict:
    request = APIRequestFactory().get("/")
    request.user = user
    return dict(PaymentSerializer(payment, context={"request": request}).data)


@pytest.mark.parametrize(
    ("method", "number", "wallet"),
    [
        (PaymentMethod.CARD, SUCCESS, None),
        (PaymentMethod.CARD, THREE_DS, None),
        (PaymentMethod.CARD, "4000000000000002", None),  # declined: failure code and message
        (PaymentMethod.WALLET, None, "alipay"),
        (PaymentMethod.BANK_TRANSFER, None, None),
    ],
)
def test_payment_json_equals_the_serializer(buyer, staff, method, number, wallet):
    order = make_order(buyer=buyer)
    start = payment_start(
        order=order,
        method=method,
        actor=f"buyer:{buyer.pk}",
        card=_card(number) if number else None,
        wallet=wallet,
    )
    payment = Payment.objects.select_related("order").get(pk=start.payment.pk)
    for viewer in (buyer, staff):
        expected = _serializer_view(payment, viewer)
        assert payment_json(payment, viewer_id=viewer.pk) == expected
    assert (
        payment_json(payment, viewer_id=buyer.pk)["next_action"]
        == (_serializer_view(payment, buyer)["next_action"])
    )
