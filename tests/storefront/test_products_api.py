"""The catalogue API for integrators: anyone reads the catalogue; a seller lists, edits, restocks
and retires its own products; bad input and other sellers' products change nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from payments.models import Product
from tests.storefront.factories import BuyerFactory, ProductFactory

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products"
BODY = {
    "title": "Linen apron",
    "description": "Stonewashed.",
    "price_minor": 2250,
    "currency": "eur",
    "stock": 40,
}


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def _error(response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)


def test_anyone_reads_the_active_catalogue_without_signing_in(seller_a, product_a):
    retired = ProductFactory(seller=seller_a, is_active=False)

    listed = api().get(PRODUCTS)
    one = api().get(f"{PRODUCTS}/{product_a.pk}")

    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["results"]] == [product_a.pk]
    assert one.json() | {"created_at": None, "updated_at": None} == {
        "id": product_a.pk,
        "object": "product",
        "seller_id": seller_a.pk,
        "title": "Mug",
        "description": "A fine thing.",
        "price_minor": 1250,
        "currency": "EUR",
        "stock": 5,
        "is_active": True,
        "image_url": None,
        "created_at": None,
        "updated_at": None,
    }
    _error(api().get(f"{PRODUCTS}/{retired.pk}"), 404, "product_not_found")


def test_catalogue_filters_by_seller_and_currency(seller_a, seller_b, product_a, product_b):
    usd = ProductFactory(seller=seller_b, currency="USD")

    by_seller = api().get(PRODUCTS, {"seller": seller_b.pk}).json()["results"]
    by_currency = api().get(PRODUCTS, {"currency": "usd"}).json()["results"]

    assert {p["id"] for p in by_seller} == {product_b.pk, usd.pk}
    assert [p["id"] for p in by_currency] == [usd.pk]
    _error(api().get(PRODUCTS, {"currency": "XAU"}), 400, "invalid", "currency")
    _error(api().get(PRODUCTS, {"seller": "x"}), 400, "invalid", "seller")


def test_a_seller_lists_a_product_with_stock_and_buyers_see_it(seller_a):
    response = api(seller_a).post(PRODUCTS, BODY, format="json")

    assert response.status_code == 201
    created = response.json()
    assert (created["price_minor"], created["currency"], created["stock"]) == (2250, "EUR", 40)
    product = Product.objects.get(pk=created["id"])
    assert (product.seller_id, product.title, product.stock) == (seller_a.pk, "Linen apron", 40)
    assert api().get(f"{PRODUCTS}/{product.pk}").status_code == 200


def test_a_seller_edits_restocks_retires_and_relists_its_own_product(seller_a, product_a):
    seller = api(seller_a)
    url = f"{PRODUCTS}/{product_a.pk}"

    edited = seller.patch(url, {"title": "Big mug", "price_minor": 1400}, format="json")
    restocked = seller.post(f"{url}/stock", {"change": 3}, format="json")
    retired = seller.delete(url)

    assert edited.status_code == 200
    assert (edited.json()["title"], edited.json()["price_minor"]) == ("Big mug", 1400)
    assert restocked.json()["stock"] == 8
    assert retired.status_code == 200 and retired.json()["is_active"] is False
    assert api().get(PRODUCTS).json()["results"] == []
    mine = seller.get(PRODUCTS, {"mine": "true"}).json()["results"]
    assert [(p["id"], p["is_active"]) for p in mine] == [(product_a.pk, False)]
    assert seller.patch(url, {"is_active": True}, format="json").json()["is_active"] is True
    product_a.refresh_from_db()
    assert (product_a.title, product_a.price_minor, product_a.stock) == ("Big mug", 1400, 8)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "price_minor": 0}, "price_minor"),
        ({**BODY, "price_minor": "22.50"}, "price_minor"),
        ({**BODY, "price_minor": True}, "price_minor"),
        ({**BODY, "currency": "XAU"}, "currency"),
        ({**BODY, "stock": -1}, "stock"),
        ({**BODY, "stock": "4"}, "stock"),
        ({**BODY, "title": " "}, "title"),
        ({**BODY, "colour": "red"}, "colour"),
        ({k: v for k, v in BODY.items() if k != "stock"}, "stock"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(seller_a, body, field):
    _error(api(seller_a).post(PRODUCTS, body, format="json"), 400, "invalid", field)

    assert not Product.objects.exists()


def test_stock_never_goes_below_zero(seller_a, product_a):
    response = api(seller_a).post(f"{PRODUCTS}/{product_a.pk}/stock", {"change": -6}, format="json")

    _error(response, 400, "invalid", "change")
    product_a.refresh_from_db()
    assert product_a.stock == 5


def test_only_sellers_write_and_only_their_own_products(seller_b, product_a):
    before = Product.objects.values().get(pk=product_a.pk)
    url = f"{PRODUCTS}/{product_a.pk}"

    assert api().post(PRODUCTS, BODY, format="json").status_code == 401
    _error(api(BuyerFactory()).post(PRODUCTS, BODY, format="json"), 403, "permission_denied")
    _error(api(seller_b).patch(url, {"title": "Mine now"}, format="json"), 404, "product_not_found")
    _error(api(seller_b).delete(url), 404, "product_not_found")
    _error(
        api(seller_b).post(f"{url}/stock", {"change": 1}, format="json"), 404, "product_not_found"
    )
    assert Product.objects.values().get(pk=product_a.pk) == before
    assert not Product.objects.filter(seller=seller_b).exists()
    assert api(seller_b).get(PRODUCTS, {"mine": "true"}).json()["results"] == []
