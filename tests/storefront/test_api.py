"""Orders and Checkout Sessions API: shapes, visibility (404 for others), bad input -> error shape."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import Order, Product
from payments.orders.input import CartLine
from payments.orders.models import CheckoutSession
from payments.orders.services import order_create_from_cart
from tests.storefront.conftest import ADDRESS
from tests.storefront.factories import BuyerFactory, ProductFactory, StaffFactory

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/checkout/sessions"
ORDERS = "/api/v1/orders"
SESSION_BODY = {
    "currency": "EUR",
    "line_items": [{"name": "Poster", "unit_amount_minor": 1500, "quantity": 2}],
    "success_url": "https://shop.example/thanks?s={CHECKOUT_SESSION_ID}",
    "cancel_url": "https://shop.example/cart",
    "metadata": {"cart_id": "c-42"},
}


def api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def _error(response, status, code, field=None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    if field is not None:
        assert error["field"] == field
    assert error["message"]
    return error


# --- checkout sessions ---------------------------------------------------------------------------


def test_seller_creates_and_reads_a_session(seller_a, product_a):
    body = SESSION_BODY | {
        "line_items": [*SESSION_BODY["line_items"], {"product_id": product_a.pk, "quantity": 1}],
        "client_reference_id": "ref-1",
    }
    created = api(seller_a).post(SESSIONS, body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    session = CheckoutSession.objects.get()
    assert data["id"] == str(session.pk)
    assert data["url"] == f"http://testserver/checkout/s/{session.pk}/"
    assert data["status"] == "open" and data["payment_status"] == "unpaid"
    assert data["amount_total_minor"] == 3000 + 1250 and data["currency"] == "EUR"
    assert data["metadata"] == {"cart_id": "c-42"} and data["client_reference_id"] == "ref-1"
    assert data["order"] is None and data["payment"] is None
    assert data["expires_at"].endswith("Z")

    read = api(seller_a).get(f"{SESSIONS}/{session.pk}")
    assert read.status_code == 200 and read.json()["id"] == str(session.pk)
    listed = api(seller_a).get(SESSIONS)
    assert [s["id"] for s in listed.json()["results"]] == [str(session.pk)]


def test_seller_b_cannot_read_seller_a_session(seller_a, seller_b):
    session_id = api(seller_a).post(SESSIONS, SESSION_BODY, format="json").json()["id"]
    _error(api(seller_b).get(f"{SESSIONS}/{session_id}"), 404, "not_found")
    _error(api(seller_b).post(f"{SESSIONS}/{session_id}/expire"), 404, "not_found")
    assert api(seller_b).get(SESSIONS).json()["results"] == []
    assert api(StaffFactory()).get(f"{SESSIONS}/{session_id}").status_code == 200


def test_buyers_and_anonymous_cannot_use_sessions(buyer, seller_a):
    assert api(buyer).post(SESSIONS, SESSION_BODY, format="json").status_code == 403
    assert api().post(SESSIONS, SESSION_BODY, format="json").status_code in (401, 403)
    assert CheckoutSession.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"line_items": [{"name": "A", "unit_amount_minor": -100, "quantity": 1}]},
            "line_items[0].unit_amount_minor",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": 99.5, "quantity": 1}]},
            "line_items[0].unit_amount_minor",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": 100, "quantity": 0}]},
            "line_items[0].quantity",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": 100, "quantity": 2.5}]},
            "line_items[0].quantity",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": 10**15, "quantity": 1}]},
            "line_items[0].unit_amount_minor",
        ),
        # One integer rule (core.integers): JSON integers only, as orders take them.
        *(
            (
                {"line_items": [{"name": "A", "unit_amount_minor": 100, "quantity": bad}]},
                "line_items[0].quantity",
            )
            for bad in ("0001", "2", True, 2.0, None, [1])
        ),
        *(
            (
                {"line_items": [{"name": "A", "unit_amount_minor": bad, "quantity": 1}]},
                "line_items[0].unit_amount_minor",
            )
            for bad in ("1500", True, 1500.0)
        ),
        ({"success_url": "javascript:alert(1)"}, "success_url"),
        ({"cancel_url": "mailto:a@b.c"}, "cancel_url"),
        ({"currency": "ZZZ"}, "currency"),
        ({"currency": "XXX"}, "currency"),  # ISO 4217's "no currency": no minor unit
        ({"currency": "XAU"}, "currency"),  # gold
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"amount_total_minor": 1}, "amount_total_minor"),
    ],
)
def test_bad_session_input_gets_the_error_shape_and_writes_nothing(seller_a, changes, field):
    _error(
        api(seller_a).post(SESSIONS, SESSION_BODY | changes, format="json"), 400, "invalid", field
    )
    assert CheckoutSession.objects.count() == 0


def test_unknown_product_and_expiry_bounds(seller_a, product_b):
    _error(
        api(seller_a).post(
            SESSIONS,
            SESSION_BODY | {"line_items": [{"product_id": product_b.pk, "quantity": 1}]},
            format="json",
        ),
        404,
        "unknown_product",
    )
    soon = (timezone.now() + timedelta(hours=2)).isoformat()
    ok = api(seller_a).post(SESSIONS, SESSION_BODY | {"expires_at": soon}, format="json")
    assert ok.status_code == 201
    assert CheckoutSession.objects.count() == 1


def test_seller_expires_an_open_session(seller_a):
    session_id = api(seller_a).post(SESSIONS, SESSION_BODY, format="json").json()["id"]
    expired = api(seller_a).post(f"{SESSIONS}/{session_id}/expire")
    assert expired.status_code == 200 and expired.json()["status"] == "expired"
    _error(api(seller_a).post(f"{SESSIONS}/{session_id}/expire"), 409, "session_not_open")


# --- orders --------------------------------------------------------------------------------------


@pytest.fixture
def order(buyer, product_a, product_b):
    return order_create_from_cart(
        buyer=buyer,
        cart_lines=[CartLine(product_a.pk, 2), CartLine(product_b.pk, 1)],
        shipping_address=ADDRESS,
    )


def test_buyer_sees_own_orders_only(order, buyer):
    data = api(buyer).get(ORDERS).json()["results"]
    assert [o["id"] for o in data] == [str(order.pk)]
    detail = api(buyer).get(f"{ORDERS}/{order.pk}").json()
    assert detail["total_minor"] == 2 * 1250 + 399 and len(detail["sub_orders"]) == 2
    other = BuyerFactory()
    assert api(other).get(ORDERS).json()["results"] == []
    _error(api(other).get(f"{ORDERS}/{order.pk}"), 404, "not_found")
    _error(api(buyer).get(f"{ORDERS}/{uuid.uuid4()}"), 404, "not_found")
    assert api().get(f"{ORDERS}/{order.pk}").status_code in (401, 403)


def test_seller_sees_only_their_sub_orders(order, seller_a, seller_b):
    detail = api(seller_a).get(f"{ORDERS}/{order.pk}").json()
    assert [s["seller_id"] for s in detail["sub_orders"]] == [seller_a.pk]
    assert detail["total_minor"] == 2500  # their part only
    assert "payment" not in detail
    listed = api(seller_b).get(ORDERS).json()["results"]
    assert [[s["seller_id"] for s in o["sub_orders"]] for o in listed] == [[seller_b.pk]]
    stranger = ProductFactory().seller
    _error(api(stranger).get(f"{ORDERS}/{order.pk}"), 404, "not_found")
    staff = api(StaffFactory()).get(f"{ORDERS}/{order.pk}").json()
    assert len(staff["sub_orders"]) == 2 and staff["total_minor"] == 2899


def test_buyer_places_an_order_with_prices_from_the_catalogue(buyer, product_a, seller_b):
    response = api(buyer).post(
        ORDERS,
        {"items": [{"product_id": product_a.pk, "quantity": 2}], "shipping_address": ADDRESS},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["total_minor"] == 2500
    assert Product.objects.get(pk=product_a.pk).stock == 3


@pytest.mark.parametrize(
    ("items", "status", "code"),
    [
        ([{"product_id": "P", "quantity": 1}], 404, "unknown_product"),
        ([{"product_id": 999999, "quantity": 1}], 404, "unknown_product"),
        ([{"product_id": None, "quantity": -1}], 404, "unknown_product"),
        ([{"quantity": 1}], 404, "unknown_product"),
        ("PRODUCT", 400, "invalid"),
        ([], 400, "invalid"),
        ([{"product_id": 1, "quantity": 1, "unit_price_minor": 1}], 400, "invalid"),
    ],
)
def test_bad_order_items_get_the_error_shape(buyer, product_a, items, status, code):
    _error(
        api(buyer).post(ORDERS, {"items": items, "shipping_address": ADDRESS}, format="json"),
        status,
        code,
    )
    assert Order.objects.count() == 0 and Product.objects.get(pk=product_a.pk).stock == 5


@pytest.mark.parametrize("quantity", [0, -3, 1.5, "2", "0001", 2.0, 10**9, 10**20, True, None])
def test_bad_order_quantities_get_the_error_shape(buyer, product_a, quantity):
    body = {
        "items": [{"product_id": product_a.pk, "quantity": quantity}],
        "shipping_address": ADDRESS,
    }
    _error(api(buyer).post(ORDERS, body, format="json"), 400, "invalid", "quantity")
    assert Order.objects.count() == 0 and Product.objects.get(pk=product_a.pk).stock == 5


def test_out_of_stock_and_currency_mix_get_the_error_shape(buyer, product_a):
    dollars = ProductFactory(currency="USD", stock=4)
    body = {"items": [{"product_id": product_a.pk, "quantity": 6}], "shipping_address": ADDRESS}
    error = _error(api(buyer).post(ORDERS, body, format="json"), 409, "out_of_stock")
    assert error["extra"]["available"] == 5
    body["items"] = [
        {"product_id": product_a.pk, "quantity": 1},
        {"product_id": dollars.pk, "quantity": 1},
    ]
    _error(api(buyer).post(ORDERS, body, format="json"), 400, "currency_mismatch")
    assert Order.objects.count() == 0
    assert [p.stock for p in Product.objects.order_by("id")] == [5, 4]


def test_sellers_cannot_place_orders(seller_b, product_a):
    body = {"items": [{"product_id": product_a.pk, "quantity": 1}], "shipping_address": ADDRESS}
    _error(api(seller_b).post(ORDERS, body, format="json"), 403, "permission_denied")
    assert Order.objects.count() == 0


# --- through a real API key and the Idempotency-Key middleware -----------------------------------


def _key_client(user):
    from accounts.services import api_key_create

    _api_key, raw = api_key_create(owner=user, name="shop")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_api_key_session_create_is_idempotent_and_scoped(seller_a, seller_b):
    client = _key_client(seller_a)
    first = client.post(SESSIONS, SESSION_BODY, format="json", HTTP_IDEMPOTENCY_KEY="order-77")
    again = client.post(SESSIONS, SESSION_BODY, format="json", HTTP_IDEMPOTENCY_KEY="order-77")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert CheckoutSession.objects.count() == 1
    other = _key_client(seller_b).get(f"{SESSIONS}/{first.json()['id']}")
    _error(other, 404, "not_found")
    from accounts.errors import ApiKeyInvalid

    _error(
        APIClient(HTTP_AUTHORIZATION="Bearer ch_live_nope_nope").get(SESSIONS),
        401,
        ApiKeyInvalid.code,
    )


def test_api_key_order_create_is_idempotent(buyer, product_a):
    client = _key_client(buyer)
    body = {"items": [{"product_id": product_a.pk, "quantity": 2}], "shipping_address": ADDRESS}
    first = client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (
        first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    )
    assert Order.objects.count() == 1 and Product.objects.get(pk=product_a.pk).stock == 3
