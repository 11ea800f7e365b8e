"""Checkout Sessions: validation, ownership, paying creates one order, expiry releases stock."""

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from core.errors import NotFound, ValidationError
from payments.checkout.sessions import (
    SessionNotOpen,
    checkout_session_create,
    checkout_session_expire_due,
    checkout_session_get_for_seller,
    checkout_session_payment_status,
    checkout_session_start_order,
)
from payments.models import Order, OrderStatus, Product
from payments.orders.errors import CurrencyMismatch, OutOfStock, UnknownProduct
from payments.orders.models import CheckoutSession, CheckoutSessionStatus
from payments.orders.payment_outcomes import order_mark_paid, order_mark_payment_failed

pytestmark = pytest.mark.django_db

GOOD = {
    "currency": "EUR",
    "line_items": [{"name": "Poster", "unit_amount_minor": 1500, "quantity": 2}],
    "success_url": "https://shop.example/thanks",
    "cancel_url": "https://shop.example/cart",
}


def _create(seller, **changes):
    return checkout_session_create(seller=seller, **(GOOD | changes))


def test_create_with_ad_hoc_and_product_lines(seller_a, product_a):
    session = _create(
        seller_a,
        line_items=[
            {"name": " Poster  A2 ", "unit_amount_minor": 1500, "quantity": 2},
            {"product_id": product_a.pk, "quantity": 1},
        ],
        metadata={"cart": "c_42"},
        client_reference_id="cart-42",
    )
    assert session.status == CheckoutSessionStatus.OPEN
    assert session.amount_total_minor == 2 * 1500 + 1250
    assert session.line_items == [
        {
            "product_id": product_a.pk,
            "name": "Mug",
            "unit_amount_minor": 1250,
            "quantity": 1,
            "amount_minor": 1250,
        },
        {
            "product_id": None,
            "name": "Poster A2",
            "unit_amount_minor": 1500,
            "quantity": 2,
            "amount_minor": 3000,
        },
    ]
    assert (
        timedelta(hours=23, minutes=59) < session.expires_at - timezone.now() <= timedelta(hours=24)
    )
    assert Product.objects.get(pk=product_a.pk).stock == 5  # nothing reserved before paying


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"currency": "XXQ"}, "currency"),
        ({"currency": "EU"}, "currency"),
        ({"currency": 978}, "currency"),
        ({"success_url": "javascript:alert(1)"}, "success_url"),
        ({"success_url": "ftp://shop.example/"}, "success_url"),
        ({"cancel_url": "/relative"}, "cancel_url"),
        ({"cancel_url": "https://x.example/" + "a" * 2000}, "cancel_url"),
        ({"line_items": []}, "line_items"),
        ({"line_items": "lots"}, "line_items"),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": -5, "quantity": 1}]},
            "line_items[0].unit_amount_minor",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": 0, "quantity": 1}]},
            "line_items[0].unit_amount_minor",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": 12.5, "quantity": 1}]},
            "line_items[0].unit_amount_minor",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": "1250", "quantity": 1}]},
            "line_items[0].unit_amount_minor",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": 10**13, "quantity": 1}]},
            "line_items[0].unit_amount_minor",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": 100, "quantity": 0}]},
            "line_items[0].quantity",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": 100, "quantity": 1.5}]},
            "line_items[0].quantity",
        ),
        (
            {"line_items": [{"name": "A", "unit_amount_minor": 100, "quantity": 10**6}]},
            "line_items[0].quantity",
        ),
        (
            {"line_items": [{"name": "", "unit_amount_minor": 100, "quantity": 1}]},
            "line_items[0].name",
        ),
        (
            {
                "line_items": [
                    {"name": "A", "unit_amount_minor": 100, "quantity": 1, "seller_id": 1}
                ]
            },
            "line_items[0].seller_id",
        ),
        ({"metadata": {"k": 5}}, "metadata"),
        ({"metadata": {str(i): "v" for i in range(21)}}, "metadata"),
        ({"expires_at": timezone.now() + timedelta(minutes=5)}, "expires_at"),
        ({"expires_at": timezone.now() + timedelta(days=3)}, "expires_at"),
        ({"customer_email": "not-an-email"}, "customer_email"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(seller_a, changes, field):
    with pytest.raises(ValidationError) as caught:
        _create(seller_a, **changes)
    assert caught.value.field == field
    assert CheckoutSession.objects.count() == 0


def test_product_lines_take_price_from_the_database_and_refuse_tampering(seller_a, product_a):
    with pytest.raises(ValidationError):
        _create(
            seller_a,
            line_items=[{"product_id": product_a.pk, "quantity": 1, "unit_amount_minor": 1}],
        )
    assert CheckoutSession.objects.count() == 0


def test_another_sellers_product_is_unknown(seller_a, product_b):
    with pytest.raises(UnknownProduct):
        _create(seller_a, line_items=[{"product_id": product_b.pk, "quantity": 1}])
    assert CheckoutSession.objects.count() == 0


def test_product_in_another_currency_or_beyond_stock_is_refused(seller_a, product_a):
    with pytest.raises(CurrencyMismatch):
        _create(seller_a, currency="USD", line_items=[{"product_id": product_a.pk, "quantity": 1}])
    with pytest.raises(OutOfStock):
        _create(seller_a, line_items=[{"product_id": product_a.pk, "quantity": 6}])
    assert CheckoutSession.objects.count() == 0


def test_buyers_cannot_create_sessions(buyer):
    with pytest.raises(ValidationError):
        _create(buyer)


def test_a_seller_cannot_read_another_sellers_session(seller_a, seller_b):
    session = _create(seller_a)
    assert checkout_session_get_for_seller(seller=seller_a, session_id=session.pk) == session
    with pytest.raises(NotFound):
        checkout_session_get_for_seller(seller=seller_b, session_id=session.pk)


def test_paying_makes_one_order_and_retries_reuse_it(seller_a, product_a):
    session = _create(
        seller_a,
        line_items=[
            {"product_id": product_a.pk, "quantity": 2},
            {"name": "Gift wrap", "unit_amount_minor": 300, "quantity": 1},
        ],
    )
    order = checkout_session_start_order(session_id=session.pk, buyer_email="Guest@Example.test")
    assert order.buyer is None and order.buyer_email == "Guest@Example.test"
    assert order.total_minor == session.amount_total_minor == 2800
    assert [(s.seller_id, s.amount_minor) for s in order.sub_orders.all()] == [(seller_a.pk, 2800)]
    assert Product.objects.get(pk=product_a.pk).stock == 3
    assert order.expires_at == session.expires_at

    order_mark_payment_failed(order=order, reason="declined")
    assert Product.objects.get(pk=product_a.pk).stock == 5
    again = checkout_session_start_order(session_id=session.pk, buyer_email="guest@example.test")
    assert again.pk == order.pk and Order.objects.count() == 1
    assert Product.objects.get(pk=product_a.pk).stock == 3

    order_mark_paid(order=again)
    session.refresh_from_db()
    assert session.status == CheckoutSessionStatus.COMPLETE and session.completed_at
    assert checkout_session_payment_status(session) == "paid"
    with pytest.raises(SessionNotOpen):
        checkout_session_start_order(session_id=session.pk, buyer_email="guest@example.test")


def test_a_repriced_product_refuses_payment_and_reserves_nothing(seller_a, product_a):
    session = _create(seller_a, line_items=[{"product_id": product_a.pk, "quantity": 1}])
    Product.objects.filter(pk=product_a.pk).update(price_minor=9999)
    with pytest.raises(ValidationError) as caught:
        checkout_session_start_order(session_id=session.pk, buyer_email="a@example.test")
    assert caught.value.code == "price_changed"
    assert Order.objects.count() == 0
    assert Product.objects.get(pk=product_a.pk).stock == 5


@pytest.mark.parametrize("email", ["", "nope", None, 5])
def test_the_hosted_page_needs_an_email(seller_a, email):
    session = _create(seller_a)
    with pytest.raises(ValidationError):
        checkout_session_start_order(session_id=session.pk, buyer_email=email)
    assert Order.objects.count() == 0


def test_expiry_by_beat_and_on_access_releases_stock(seller_a, seller_b, product_a):
    session = _create(seller_a, line_items=[{"product_id": product_a.pk, "quantity": 2}])
    unpaid_order = checkout_session_start_order(session_id=session.pk, buyer_email="a@example.test")
    untouched = _create(seller_a)
    assert Product.objects.get(pk=product_a.pk).stock == 3

    with freeze_time(timezone.now() + timedelta(hours=24, seconds=1)):
        # On access, before any sweep:
        read = checkout_session_get_for_seller(seller=seller_a, session_id=session.pk)
        assert read.status == CheckoutSessionStatus.EXPIRED
        assert Order.objects.get(pk=unpaid_order.pk).status == OrderStatus.EXPIRED
        assert Product.objects.get(pk=product_a.pk).stock == 5
        # The sweep expires the other one, and is idempotent.
        assert checkout_session_expire_due() == 1
        assert checkout_session_expire_due() == 0
        assert CheckoutSession.objects.get(pk=untouched.pk).status == CheckoutSessionStatus.EXPIRED
        with pytest.raises(SessionNotOpen):
            checkout_session_start_order(session_id=untouched.pk, buyer_email="a@example.test")
    assert Product.objects.get(pk=product_a.pk).stock == 5


def test_a_paid_session_never_expires(seller_a):
    session = _create(seller_a)
    order = checkout_session_start_order(session_id=session.pk, buyer_email="a@example.test")
    order_mark_paid(order=order)
    with freeze_time(timezone.now() + timedelta(days=2)):
        assert checkout_session_expire_due() == 0
    assert CheckoutSession.objects.get(pk=session.pk).status == CheckoutSessionStatus.COMPLETE
