"""Beat tasks: registered under their names, thin over the services, idempotent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from payments.checkout import tasks as checkout_tasks
from payments.checkout.sessions import checkout_session_create
from payments.models import Order, OrderStatus, Product
from payments.orders import tasks as order_tasks
from payments.orders.input import CartLine
from payments.orders.models import CheckoutSession, CheckoutSessionStatus
from payments.orders.services import order_create_from_cart
from tests.storefront.conftest import ADDRESS

pytestmark = pytest.mark.django_db


def test_tasks_are_registered_with_late_acks_and_bounded_retries():
    for name in (
        "payments.order_tasks.expire_unpaid_orders",
        "payments.order_tasks.expire_checkout_sessions",
    ):
        task = app.tasks[name]
        assert task.acks_late is True and task.max_retries == 3


def test_expire_tasks_release_stock_once(buyer, product_a, seller_a):
    order = order_create_from_cart(
        buyer=buyer, cart_lines=[CartLine(product_a.pk, 2)], shipping_address=ADDRESS
    )
    session = checkout_session_create(
        seller=seller_a,
        currency="EUR",
        line_items=[{"name": "X", "unit_amount_minor": 100, "quantity": 1}],
        success_url="https://a.example/",
        cancel_url="https://a.example/",
    )
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    CheckoutSession.objects.filter(pk=session.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert order_tasks.expire_unpaid_orders.apply().get() == 1
    assert order_tasks.expire_unpaid_orders.apply().get() == 0
    assert checkout_tasks.expire_checkout_sessions.apply().get() == 1
    assert checkout_tasks.expire_checkout_sessions.apply().get() == 0
    assert Order.objects.get(pk=order.pk).status == OrderStatus.EXPIRED
    assert CheckoutSession.objects.get(pk=session.pk).status == CheckoutSessionStatus.EXPIRED
    assert Product.objects.get(pk=product_a.pk).stock == 5


def test_seed_demo_products_is_idempotent(seller_a, seller_b):
    from payments.catalog.demo import seed_demo_products
    from tests.storefront.factories import SellerProfileFactory

    SellerProfileFactory(user=seller_b, default_currency="JPY")
    first = seed_demo_products([seller_a, seller_b])
    Product.objects.filter(pk=first[0].pk).update(stock=1)
    second = seed_demo_products([seller_a, seller_b])
    assert [p.pk for p in first] == [p.pk for p in second]
    assert Product.objects.count() == 10
    assert Product.objects.get(pk=first[0].pk).stock == 1  # not refilled
    assert set(Product.objects.filter(seller=seller_b).values_list("currency", flat=True)) == {
        "JPY",
        "EUR",
    }
    assert Product.objects.filter(currency="EUR").values("seller").distinct().count() == 2
