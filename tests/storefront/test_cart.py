"""Cart: early checks on add, guest carts in the session, merged into the user's cart at sign-in."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from core.errors import ValidationError
from payments.checkout import cart as carts
from payments.checkout.models import CartItem
from payments.models import Product
from payments.orders.errors import CurrencyMismatch, OutOfStock, UnknownProduct
from tests.storefront.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _request(user=None, session=None):
    request = RequestFactory().get("/")
    request.user = user or AnonymousUser()
    request.session = session if session is not None else SessionStore()
    return request


def _lines(request):
    return [(line.product_id, line.quantity) for line in carts.cart_lines(request=request)]


def test_add_accumulates_and_is_stored_per_user(buyer, product_a, product_b):
    request = _request(buyer)
    carts.cart_add(request=request, product_id=product_a.pk, quantity="2")
    carts.cart_add(request=request, product_id=product_a.pk, quantity=1)
    carts.cart_add(request=request, product_id=str(product_b.pk), quantity="1")
    assert _lines(request) == [(product_a.pk, 3), (product_b.pk, 1)]
    assert CartItem.objects.filter(cart__user=buyer).count() == 2
    # Another request (another device) sees the same cart.
    assert _lines(_request(buyer)) == [(product_a.pk, 3), (product_b.pk, 1)]


@pytest.mark.parametrize("quantity", ["0", "-1", "1.5", "abc", "", 0, 2.0, True, "101", "1e1"])
def test_bad_quantities_change_nothing(buyer, product_a, quantity):
    request = _request(buyer)
    carts.cart_add(request=request, product_id=product_a.pk, quantity=1)
    with pytest.raises(ValidationError) as caught:
        carts.cart_add(request=request, product_id=product_a.pk, quantity=quantity)
    assert caught.value.field == "quantity"
    assert _lines(request) == [(product_a.pk, 1)]


def test_more_than_in_stock_is_refused(buyer, product_b):
    request = _request(buyer)
    carts.cart_add(request=request, product_id=product_b.pk, quantity=2)
    with pytest.raises(OutOfStock) as caught:
        carts.cart_add(request=request, product_id=product_b.pk, quantity=2)
    assert "only 3 left" in caught.value.message
    assert _lines(request) == [(product_b.pk, 2)]


def test_more_than_the_line_maximum_is_refused(buyer, seller_a):
    plenty = ProductFactory(seller=seller_a, stock=1000)
    request = _request(buyer)
    carts.cart_add(request=request, product_id=plenty.pk, quantity=99)
    with pytest.raises(ValidationError):
        carts.cart_add(request=request, product_id=plenty.pk, quantity=2)
    assert _lines(request) == [(plenty.pk, 99)]


@pytest.mark.parametrize("product_id", [999_999, "x", None, "-3"])
def test_unknown_products_are_refused(buyer, product_id):
    with pytest.raises(UnknownProduct):
        carts.cart_add(request=_request(buyer), product_id=product_id, quantity=1)
    assert CartItem.objects.count() == 0


def test_inactive_products_are_refused(buyer, product_a):
    Product.objects.filter(pk=product_a.pk).update(is_active=False)
    with pytest.raises(UnknownProduct):
        carts.cart_add(request=_request(buyer), product_id=product_a.pk, quantity=1)


def test_a_second_currency_is_refused_with_a_clear_message(buyer, product_a):
    dollars = ProductFactory(currency="USD", stock=5)
    request = _request(buyer)
    carts.cart_add(request=request, product_id=product_a.pk, quantity=1)
    with pytest.raises(CurrencyMismatch) as caught:
        carts.cart_add(request=request, product_id=dollars.pk, quantity=1)
    assert "priced in EUR; this one is priced in USD" in caught.value.message
    assert _lines(request) == [(product_a.pk, 1)]


def test_sellers_cannot_put_their_own_products_in_a_cart(product_a):
    with pytest.raises(ValidationError):
        carts.cart_add(request=_request(product_a.seller), product_id=product_a.pk, quantity=1)


def test_guest_cart_lives_in_the_session_and_merges_at_sign_in(buyer, product_a, product_b):
    session = SessionStore()
    guest = _request(session=session)
    carts.cart_add(request=guest, product_id=product_a.pk, quantity=2)
    carts.cart_add(request=guest, product_id=product_b.pk, quantity=1)
    assert CartItem.objects.count() == 0
    assert _lines(guest) == [(product_a.pk, 2), (product_b.pk, 1)]

    signed_in = _request(buyer)
    carts.cart_add(request=signed_in, product_id=product_a.pk, quantity=1)
    # The same session after login (Django keeps session data across login).
    after_login = _request(buyer, session=session)
    assert sorted(_lines(after_login)) == sorted([(product_a.pk, 3), (product_b.pk, 1)])
    assert carts.SESSION_KEY not in session


def test_update_and_remove(buyer, product_a, product_b):
    request = _request(buyer)
    carts.cart_add(request=request, product_id=product_a.pk, quantity=1)
    carts.cart_add(request=request, product_id=product_b.pk, quantity=1)
    carts.cart_set_quantity(request=request, product_id=product_a.pk, quantity="4")
    carts.cart_remove(request=request, product_id=product_b.pk)
    assert _lines(request) == [(product_a.pk, 4)]
    with pytest.raises(OutOfStock):
        carts.cart_set_quantity(request=request, product_id=product_a.pk, quantity="6")
    assert _lines(request) == [(product_a.pk, 4)]


def test_summary_prices_from_the_database_and_flags_problems(buyer, product_a, product_b):
    request = _request(buyer)
    carts.cart_add(request=request, product_id=product_a.pk, quantity=2)
    carts.cart_add(request=request, product_id=product_b.pk, quantity=3)
    summary = carts.cart_summary(request=request)
    assert summary.total_minor == 2 * 1250 + 3 * 399 and summary.currency == "EUR"
    assert summary.can_check_out

    Product.objects.filter(pk=product_a.pk).update(price_minor=1300)
    Product.objects.filter(pk=product_b.pk).update(stock=1)
    summary = carts.cart_summary(request=request)
    assert summary.total_minor == 2 * 1300 + 3 * 399
    assert not summary.can_check_out
    assert summary.problems == ["Towel: Only 1 left: lower the quantity."]


def test_tampered_session_cart_values_are_ignored(product_a):
    session = SessionStore()
    session[carts.SESSION_KEY] = {str(product_a.pk): 2, "junk": 5, "7": -3, "8": 1.5, "9": 10_000}
    assert _lines(_request(session=session)) == [(product_a.pk, 2)]
