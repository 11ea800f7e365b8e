"""The seller's balances panel on the seller's orders page: in escrow, pending (net of the fee)
and available, per currency, read from the ledger and the sub-orders."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from core.money import Money
from payments.fulfilment.refunds import refund_create
from settlement.balances.selectors import SellerBalance, seller_balances
from settlement.fees import fee_for
from settlement.release.services import sub_order_confirm
from tests.lifecycle.release_fixtures import *  # noqa: F403
from tests.lifecycle.release_fixtures import (
    balance,
    client_for,
    make_seller,
    paid_order,
    run_refund_tasks,
)

pytestmark = pytest.mark.django_db


def shown(body: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">([^<]*)<', body)
    assert match, f"{testid} not on the page"
    return match.group(1)


def orders_page(seller) -> str:
    response = client_for(seller).get(reverse("dashboard:orders"))
    assert response.status_code == 200
    return response.content.decode()


def test_after_a_confirm_the_page_shows_the_net_exactly(buyer):
    seller = make_seller("standard")
    _order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller], amounts=(12345,))
    body = orders_page(seller)
    # A German seller: every amount of the page the German way, the balances too.
    assert shown(body, "balance-escrow-EUR") == "123,45\xa0€"
    assert shown(body, "balance-pending-EUR") == "0,00\xa0€"
    assert "€123.45" not in body

    sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor=f"buyer:{buyer.pk}")

    fee = fee_for(seller, Money(12345, "EUR")).amount_minor
    net = 12345 - fee
    assert fee == 358  # 2.90 % of 123.45, rounded half-up
    assert balance(f"seller:{seller.pk}:pending") == net
    body = orders_page(seller)
    assert shown(body, "balance-pending-EUR") == Money(net, "EUR").format("de_DE") == "119,87\xa0€"
    assert shown(body, "balance-escrow-EUR") == "0,00\xa0€"
    assert shown(body, "balance-available-EUR") == "0,00\xa0€"  # no available account yet


def test_balances_per_currency_and_only_the_sellers_own(buyer):
    seller = make_seller("reduced")
    other = make_seller("standard")
    paid_order(buyer=buyer, sellers=[seller], amounts=(5000,), currency="EUR")
    _o, _p, [usd] = paid_order(buyer=buyer, sellers=[seller], amounts=(2000,), currency="USD")
    paid_order(buyer=buyer, sellers=[other], amounts=(7000,))
    sub_order_confirm(sub_order_id=usd.pk, buyer=buyer, actor=f"buyer:{buyer.pk}")

    assert seller_balances(seller_id=seller.pk) == [
        SellerBalance(currency="EUR", pending_minor=0, available_minor=0, escrow_minor=5000),
        SellerBalance(currency="USD", pending_minor=2000 - 30, available_minor=0, escrow_minor=0),
    ]
    body = orders_page(seller)
    assert shown(body, "balance-pending-USD") == "19,70\xa0$"
    assert shown(body, "balance-escrow-EUR") == "50,00\xa0€"
    assert "70,00" not in body  # the other seller's escrow


def test_refunds_out_of_escrow_lower_what_is_held(buyer, refund_tasks):
    seller = make_seller()
    _order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller], amounts=(10000,))
    refund_create(sub_order_id=sub.pk, amount_minor=2500, reason="broken lid", actor="seller:1")
    assert seller_balances(seller_id=seller.pk)[0].escrow_minor == 7500  # on its way back
    run_refund_tasks(refund_tasks)
    assert seller_balances(seller_id=seller.pk)[0].escrow_minor == 7500  # paid back


def test_an_authorised_order_not_yet_accepted_counts_its_hold(buyer):
    from payments.models import SubOrder

    seller = make_seller()
    _order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller], amounts=(4200,))
    # As acceptance leaves it before capture: authorised only, awaiting the seller.
    SubOrder.objects.filter(pk=sub.pk).update(status="awaiting_acceptance", captured_minor=0)
    assert seller_balances(seller_id=seller.pk)[0].escrow_minor == 4200


def test_a_seller_without_money_sees_a_note():
    seller = make_seller()
    assert "No money yet" in orders_page(seller)
