"""The admin for payments and accounts: money shows with its currency, orders and sub-orders are
read-only, products' money and stock are read-only, every model names itself."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.db import models
from django.urls import reverse

from tests.lifecycle.accept_fixtures import make_product, place_order
from tests.storefront.factories import BuyerFactory, SellerFactory

pytestmark = pytest.mark.django_db

OUR_APPS = ("payments", "accounts")


def _our_models():
    return [m for m in apps.get_models() if m._meta.app_label in OUR_APPS]


def test_every_model_names_itself_and_its_plural_is_english():
    without_str = [m.__name__ for m in _our_models() if m.__str__ is models.Model.__str__]
    bad_plurals = [
        str(m._meta.verbose_name_plural)
        for m in _our_models()
        if re.search(r"[^aeiou]ys$", str(m._meta.verbose_name_plural))
    ]

    assert without_str == []
    assert bad_plurals == []


def test_order_lists_show_money_with_its_currency_and_refuse_changes(admin_client):
    seller = SellerFactory()
    order = place_order(BuyerFactory(), [(make_product(seller, price=2200), 2)])
    sub_order = order.sub_orders.get()

    orders = admin_client.get(reverse("admin:payments_order_changelist")).content.decode()
    subs = admin_client.get(reverse("admin:payments_suborder_changelist")).content.decode()
    order_page = admin_client.get(reverse("admin:payments_order_change", args=[order.pk]))

    assert "€44.00" in orders and "4400" not in orders
    assert "€44.00" in subs and "Sub-orders" in subs
    assert order_page.status_code == 200
    assert 'name="status"' not in order_page.content.decode()  # shown, not editable
    assert (
        admin_client.post(
            reverse("admin:payments_order_change", args=[order.pk]), {"status": "completed"}
        ).status_code
        == 403
    )
    sub_order.refresh_from_db()
    assert sub_order.status == "awaiting_payment"


def test_product_admin_edits_words_but_not_price_or_stock(admin_client):
    product = make_product(SellerFactory(), price=1250, stock=5)
    url = reverse("admin:payments_product_change", args=[product.pk])

    listing = admin_client.get(reverse("admin:payments_product_changelist")).content.decode()
    page = admin_client.get(url).content.decode()
    admin_client.post(
        url,
        {"title": "Renamed", "description": "", "is_active": "on", "price_minor": 1, "stock": 999},
    )

    assert "€12.50" in listing
    assert 'name="price_minor"' not in page and 'name="stock"' not in page
    product.refresh_from_db()
    assert (product.title, product.price_minor, product.stock) == ("Renamed", 1250, 5)
