"""Seller product management: decimal prices to minor units, own products only, race-free stock."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payments.models import Product
from tests.storefront.factories import ProductFactory, SellerProfileFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def seller_client(client, seller_a):
    client.force_login(seller_a)
    return client


def _new(client, **changes):
    data = {
        "title": "Lamp",
        "description": "Bright.",
        "price": "12.50",
        "currency": "EUR",
        "stock": "7",
    }
    return client.post(reverse("payments:seller_product_new"), data | changes)


def test_create_a_product_with_a_decimal_price(seller_client, seller_a):
    response = _new(seller_client)
    assert response.status_code == 302
    product = Product.objects.get()
    assert (
        product.seller,
        product.title,
        product.price_minor,
        product.currency,
        product.stock,
    ) == (
        seller_a,
        "Lamp",
        1250,
        "EUR",
        7,
    )


@pytest.mark.parametrize(
    ("price", "currency", "minor"),
    [("12", "EUR", 1200), ("0.01", "EUR", 1), ("1500", "JPY", 1500), ("1.234", "KWD", 1234)],
)
def test_prices_follow_the_currency_exponent(seller_client, price, currency, minor):
    assert _new(seller_client, price=price, currency=currency).status_code == 302
    assert Product.objects.get().price_minor == minor


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"price": "12.345"}, "EUR prices have at most 2 decimals."),
        ({"price": "15.5", "currency": "JPY"}, "JPY prices have no decimals."),
        ({"price": "-1"}, "more than zero"),
        ({"price": "0"}, "more than zero"),
        ({"price": "abc"}, "Enter a price like 12.50"),
        ({"price": "1e5"}, "Enter a price like 12.50"),
        ({"price": "NaN"}, "Enter a price like 12.50"),
        ({"price": "99999999999"}, "too large"),
        ({"currency": "XYZ"}, "Unknown currency XYZ."),
        ({"stock": "-1"}, "greater than or equal to 0"),
        ({"stock": "1.5"}, "Enter a whole number"),
        ({"title": ""}, "This field is required"),
    ],
)
def test_bad_product_input_shows_the_error_and_writes_nothing(seller_client, changes, message):
    response = _new(seller_client, **changes)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Product.objects.count() == 0


def test_new_product_form_defaults_to_the_sellers_currency(client):
    profile = SellerProfileFactory(default_currency="JPY")
    client.force_login(profile.user)
    body = client.get(reverse("payments:seller_product_new")).content.decode()
    assert 'value="JPY"' in body


def test_image_upload_accepts_raster_images_only(seller_client):
    ok = _new(seller_client, image=SimpleUploadedFile("photo.png", PNG, content_type="image/png"))
    assert ok.status_code == 302
    product = Product.objects.get()
    assert product.image.name.startswith("products/") and product.image.name.endswith(".png")
    assert "photo" not in product.image.name  # stored under a random name
    svg = SimpleUploadedFile("x.svg", b"<svg onload=alert(1)></svg>", content_type="image/svg+xml")
    refused = _new(seller_client, title="Other", image=svg)
    assert (
        refused.status_code == 400
        and "Upload a PNG, JPEG, GIF or WebP image." in refused.content.decode()
    )
    assert Product.objects.count() == 1


def test_sellers_see_and_edit_only_their_own_products(seller_client, seller_a, product_b):
    ProductFactory(seller=seller_a, title="Mine")
    body = seller_client.get(reverse("payments:seller_products")).content.decode()
    assert "Mine" in body and product_b.title not in body
    assert (
        seller_client.get(reverse("payments:seller_product_edit", args=[product_b.pk])).status_code
        == 404
    )
    assert (
        seller_client.post(
            reverse("payments:seller_product_stock", args=[product_b.pk]), {"change": "5"}
        ).status_code
        == 404
    )
    assert Product.objects.get(pk=product_b.pk).stock == 3


def test_edit_keeps_stock_and_changes_the_listing(seller_client, seller_a):
    product = ProductFactory(seller=seller_a, price_minor=1000, stock=4)
    form = seller_client.get(
        reverse("payments:seller_product_edit", args=[product.pk])
    ).content.decode()
    assert 'value="10.00"' in form
    response = seller_client.post(
        reverse("payments:seller_product_edit", args=[product.pk]),
        {
            "title": "Renamed",
            "description": "",
            "price": "11.00",
            "currency": "EUR",
            "is_active": "",
            "stock": "999",
        },
    )
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.title, product.price_minor, product.is_active, product.stock) == (
        "Renamed",
        1100,
        False,
        4,
    )


def test_stock_is_adjusted_by_a_delta_and_never_below_zero(seller_client, seller_a):
    product = ProductFactory(seller=seller_a, stock=4)
    url = reverse("payments:seller_product_stock", args=[product.pk])
    seller_client.post(url, {"change": "6"})
    assert Product.objects.get(pk=product.pk).stock == 10
    seller_client.post(url, {"change": "-3"})
    assert Product.objects.get(pk=product.pk).stock == 7
    response = seller_client.post(url, {"change": "-8"}, follow=True)
    assert "cannot go below 0" in response.content.decode()
    for bad in ("1.5", "abc", "0"):
        seller_client.post(url, {"change": bad})
    assert Product.objects.get(pk=product.pk).stock == 7


def test_buyers_cannot_manage_products(client, buyer):
    client.force_login(buyer)
    assert client.get(reverse("payments:seller_products")).status_code == 403
    assert _new(client).status_code == 403
    assert Product.objects.count() == 0
