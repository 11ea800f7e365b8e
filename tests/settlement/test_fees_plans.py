"""Fee plans: basis points per plan, half-up rounding in each currency's minor unit."""

from __future__ import annotations

import pytest

from core.money import Money
from settlement.fees import UnknownFeePlan, fee_for
from tests.lifecycle.release_fixtures import *  # noqa: F403
from tests.lifecycle.release_fixtures import make_seller

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "currency", "fee"),
    [
        (10000, "USD", 290),  # $100.00 at 2.9 % = $2.90
        (1999, "USD", 58),  # 57.971 -> 58
        (1050, "JPY", 30),  # ¥30.45 -> ¥30 (whole yen)
        (1207, "JPY", 35),  # 35.003 -> 35
        (12345, "KWD", 358),  # 358.005 fils -> 358 (half-up only at .5 of a fils)
        (50, "KWD", 1),  # 1.45 -> 1
    ],
)
def test_standard_plan_rounds_half_up_in_the_currencys_minor_unit(amount, currency, fee):
    seller = make_seller("standard", currency=currency)
    assert fee_for(seller, Money(amount, currency)) == Money(fee, currency)


def test_exact_half_rounds_up(settings):
    settings.CLEARHOUSE_FEE_PLANS = {"half": {"bps": 50}}
    seller = make_seller("half")
    assert fee_for(seller, Money(100, "JPY")) == Money(1, "JPY")  # 0.5 -> 1
    assert fee_for(seller, Money(300, "USD")) == Money(2, "USD")  # 1.5 -> 2


def test_zero_plan_and_default_for_a_seller_without_profile():
    assert fee_for(make_seller("zero"), Money(10000, "EUR")) == Money(0, "EUR")
    assert fee_for(make_seller(None), Money(10000, "EUR")) == Money(290, "EUR")


def test_unknown_plan_is_a_clear_error(settings):
    seller = make_seller("platinum")
    with pytest.raises(UnknownFeePlan) as caught:
        fee_for(seller, Money(10000, "EUR"))
    assert "platinum" in caught.value.message
    settings.CLEARHOUSE_FEE_PLANS = {"bad": {"bps": 20000}}
    seller.seller_profile.fee_plan = "bad"
    seller.seller_profile.save()
    with pytest.raises(UnknownFeePlan):
        fee_for(seller, Money(10000, "EUR"))
