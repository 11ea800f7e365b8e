"""order_services: reservation, payment outcomes, retries and expiry, with nothing changed on failure."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import ApplicationError, ValidationError
from payments.models import Order, OrderLine, OrderStatus, Product, SubOrder, SubOrderStatus
from payments.orders.errors import CurrencyMismatch, OrderNotPayable, OutOfStock, UnknownProduct
from payments.orders.expiry import order_expire_unpaid
from payments.orders.input import CartLine
from payments.orders.payment_outcomes import (
    order_mark_paid,
    order_mark_payment_failed,
    order_reopen_for_payment,
)
from payments.orders.services import order_create_from_cart
from tests.storefront.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _stock(*products):
    return [Product.objects.get(pk=p.pk).stock for p in products]


def _nothing_written(*products, stocks):
    assert Order.objects.count() == 0
    assert SubOrder.objects.count() == 0
    assert OrderLine.objects.count() == 0
    assert _stock(*products) == stocks


def test_one_order_with_a_sub_order_per_seller_and_stock_reserved(
    buyer, product_a, product_b, address
):
    order = order_create_from_cart(
        buyer=buyer,
        cart_lines=[CartLine(product_a.pk, 2), CartLine(product_b.pk, 3)],
        shipping_address=address,
    )
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert order.buyer == buyer and order.buyer_email == buyer.email
    assert order.currency == "EUR"
    assert order.total_minor == 2 * 1250 + 3 * 399
    assert order.stock_reserved is True
    assert order.expires_at > timezone.now()
    subs = list(order.sub_orders.order_by("seller_id"))
    assert [(s.seller_id, s.amount_minor, s.status) for s in subs] == [
        (product_a.seller_id, 2500, SubOrderStatus.AWAITING_PAYMENT),
        (product_b.seller_id, 1197, SubOrderStatus.AWAITING_PAYMENT),
    ]
    lines = {line.product_id: line for line in OrderLine.objects.filter(sub_order__order=order)}
    assert (lines[product_a.pk].unit_price_minor, lines[product_a.pk].quantity) == (1250, 2)
    assert lines[product_a.pk].amount_minor == 2500 and lines[product_a.pk].title == "Mug"
    assert _stock(product_a, product_b) == [3, 0]
    assert order.shipping_address == address


def test_duplicate_lines_are_merged(buyer, product_a, address):
    order = order_create_from_cart(
        buyer=buyer,
        cart_lines=[{"product_id": product_a.pk, "quantity": 1}, CartLine(product_a.pk, 2)],
        shipping_address=address,
    )
    assert OrderLine.objects.get(sub_order__order=order).quantity == 3
    assert _stock(product_a) == [2]


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "1.5", "1e2", True, 101, "abc", None, "", " "])
def test_bad_quantities_are_refused_and_nothing_is_written(buyer, product_a, address, quantity):
    with pytest.raises(ValidationError) as caught:
        order_create_from_cart(
            buyer=buyer,
            cart_lines=[{"product_id": product_a.pk, "quantity": quantity}],
            shipping_address=address,
        )
    assert caught.value.field == "quantity"
    _nothing_written(product_a, stocks=[5])


@pytest.mark.parametrize("product_id", [999_999, -1, 0, "1", None, True])
def test_unknown_product_is_refused(buyer, product_a, address, product_id):
    with pytest.raises(UnknownProduct):
        order_create_from_cart(
            buyer=buyer,
            cart_lines=[CartLine(product_a.pk, 1), {"product_id": product_id, "quantity": 1}],
            shipping_address=address,
        )
    _nothing_written(product_a, stocks=[5])


def test_inactive_product_is_refused(buyer, product_a, address):
    Product.objects.filter(pk=product_a.pk).update(is_active=False)
    with pytest.raises(UnknownProduct):
        order_create_from_cart(
            buyer=buyer, cart_lines=[CartLine(product_a.pk, 1)], shipping_address=address
        )
    _nothing_written(product_a, stocks=[5])


def test_out_of_stock_reserves_nothing_at_all(buyer, product_a, product_b, address):
    # product_a could be reserved, product_b cannot: all or nothing.
    with pytest.raises(OutOfStock) as caught:
        order_create_from_cart(
            buyer=buyer,
            cart_lines=[CartLine(product_a.pk, 2), CartLine(product_b.pk, 4)],
            shipping_address=address,
        )
    assert "only 3 left" in caught.value.message
    assert caught.value.http_status == 409
    _nothing_written(product_a, product_b, stocks=[5, 3])


def test_several_currencies_are_refused_with_a_clear_message(buyer, product_a, address):
    dollars = ProductFactory(currency="USD", price_minor=500, stock=5)
    with pytest.raises(CurrencyMismatch) as caught:
        order_create_from_cart(
            buyer=buyer,
            cart_lines=[CartLine(product_a.pk, 1), CartLine(dollars.pk, 1)],
            shipping_address=address,
        )
    assert "different currencies (EUR, USD)" in caught.value.message
    _nothing_written(product_a, dollars, stocks=[5, 5])


def test_a_seller_cannot_buy_their_own_product(product_a, address):
    with pytest.raises(ValidationError) as caught:
        order_create_from_cart(
            buyer=product_a.seller, cart_lines=[CartLine(product_a.pk, 1)], shipping_address=address
        )
    assert caught.value.code == "own_product"
    _nothing_written(product_a, stocks=[5])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"country": "Germany"}, "country"),
        ({"country": "1X"}, "country"),
        ({"city": "x" * 101}, "city"),
        ({"line1": 5}, "line1"),
        ({"evil": "x"}, "shipping_address"),
    ],
)
def test_bad_addresses_are_refused(buyer, product_a, address, change, field):
    with pytest.raises(ValidationError) as caught:
        order_create_from_cart(
            buyer=buyer, cart_lines=[CartLine(product_a.pk, 1)], shipping_address=address | change
        )
    assert caught.value.field == field
    _nothing_written(product_a, stocks=[5])


def test_empty_and_oversized_carts_are_refused(buyer, product_a, address):
    with pytest.raises(ValidationError):
        order_create_from_cart(buyer=buyer, cart_lines=[], shipping_address=address)
    many = [CartLine(product_a.pk, 1)] * 51
    with pytest.raises(ValidationError):
        order_create_from_cart(buyer=buyer, cart_lines=many, shipping_address=address)
    _nothing_written(product_a, stocks=[5])


def test_absurd_totals_are_refused(buyer, address, seller_a):
    pricey = ProductFactory(seller=seller_a, price_minor=10**11, stock=100)
    with pytest.raises(ValidationError) as caught:
        order_create_from_cart(
            buyer=buyer, cart_lines=[CartLine(pricey.pk, 100)], shipping_address=address
        )
    assert caught.value.code == "amount_too_large"
    _nothing_written(pricey, stocks=[100])


def test_a_resubmitted_checkout_token_returns_the_same_order(buyer, product_a, address):
    token = "6f1c1b1e-3a2b-4c5d-8e9f-0a1b2c3d4e5f"
    first = order_create_from_cart(
        buyer=buyer,
        cart_lines=[CartLine(product_a.pk, 2)],
        shipping_address=address,
        checkout_token=token,
    )
    second = order_create_from_cart(
        buyer=buyer,
        cart_lines=[CartLine(product_a.pk, 2)],
        shipping_address=address,
        checkout_token=token,
    )
    assert first.pk == second.pk
    assert Order.objects.count() == 1
    assert _stock(product_a) == [3]


@pytest.fixture
def order(buyer, product_a, product_b, address):
    return order_create_from_cart(
        buyer=buyer,
        cart_lines=[CartLine(product_a.pk, 2), CartLine(product_b.pk, 1)],
        shipping_address=address,
    )


def test_mark_paid_moves_order_and_sub_orders_and_is_idempotent(order, product_a):
    order_mark_paid(order=order)
    order_mark_paid(order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert set(order.sub_orders.values_list("status", flat=True)) == {
        SubOrderStatus.AWAITING_ACCEPTANCE
    }
    assert order.stock_reserved is True
    assert _stock(product_a) == [3]


def test_payment_failure_releases_stock_exactly_once(order, product_a, product_b):
    order_mark_payment_failed(order=order, reason="Your card was declined.")
    order_mark_payment_failed(order=order, reason="Your card was declined.")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_FAILED
    assert order.payment_failure_reason == "Your card was declined."
    assert order.stock_reserved is False
    assert _stock(product_a, product_b) == [5, 3]


def test_failure_after_payment_succeeded_changes_nothing(order, product_a):
    order_mark_paid(order=order)
    order_mark_payment_failed(order=order, reason="late failure of a second attempt")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert _stock(product_a) == [3]


def test_retry_reserves_again_on_the_same_order(order, product_a, product_b):
    order_mark_payment_failed(order=order, reason="declined")
    reopened = order_reopen_for_payment(order=order)
    assert reopened.pk == order.pk
    assert reopened.status == OrderStatus.AWAITING_PAYMENT and reopened.stock_reserved
    assert _stock(product_a, product_b) == [3, 2]
    order_mark_paid(order=order)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


def test_retry_when_the_stock_is_gone_changes_nothing(order, product_b):
    order_mark_payment_failed(order=order, reason="declined")
    Product.objects.filter(pk=product_b.pk).update(stock=0)
    with pytest.raises(OutOfStock):
        order_reopen_for_payment(order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_FAILED and not order.stock_reserved
    assert _stock(product_b) == [0]


def test_a_late_authorisation_reserves_again_or_is_refused(order, product_a, product_b):
    order_mark_payment_failed(order=order, reason="timeout")
    order_mark_paid(order=order)  # the first attempt was authorised after all
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID and order.stock_reserved
    assert _stock(product_a, product_b) == [3, 2]


def test_a_late_authorisation_without_stock_is_refused_and_changes_nothing(order, product_b):
    order_mark_payment_failed(order=order, reason="timeout")
    Product.objects.filter(pk=product_b.pk).update(stock=0)
    with pytest.raises(ApplicationError):
        order_mark_paid(order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_FAILED


def test_paid_orders_cannot_be_reopened(order):
    order_mark_paid(order=order)
    with pytest.raises(OrderNotPayable):
        order_reopen_for_payment(order=order)


def test_expiry_releases_stock_of_due_orders_only(order, buyer, product_a, product_b, address):
    fresh = order_create_from_cart(
        buyer=buyer, cart_lines=[CartLine(product_a.pk, 1)], shipping_address=address
    )
    paid = order_create_from_cart(
        buyer=buyer, cart_lines=[CartLine(product_a.pk, 1)], shipping_address=address
    )
    order_mark_paid(order=paid)
    past = timezone.now() - timedelta(minutes=1)
    Order.objects.filter(pk__in=[order.pk, paid.pk]).update(expires_at=past)
    assert _stock(product_a, product_b) == [1, 2]

    assert order_expire_unpaid() == 1
    assert order_expire_unpaid() == 0  # idempotent
    order.refresh_from_db()
    assert order.status == OrderStatus.EXPIRED and not order.stock_reserved
    assert set(order.sub_orders.values_list("status", flat=True)) == {SubOrderStatus.CANCELLED}
    assert Order.objects.get(pk=fresh.pk).status == OrderStatus.AWAITING_PAYMENT
    assert Order.objects.get(pk=paid.pk).status == OrderStatus.PAID
    assert _stock(product_a, product_b) == [3, 3]


def test_expiring_an_order_whose_payment_failed_does_not_release_twice(order, product_a):
    order_mark_payment_failed(order=order, reason="declined")
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert order_expire_unpaid() == 1
    assert Order.objects.get(pk=order.pk).status == OrderStatus.EXPIRED
    assert _stock(product_a) == [5]
