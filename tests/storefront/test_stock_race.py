"""Two buyers race for the last unit on PostgreSQL: exactly one gets it, stock never goes negative."""

import threading

import pytest
from django.db import connection

from payments.models import Order, Product
from payments.orders.errors import OutOfStock
from payments.orders.input import CartLine
from payments.orders.services import order_create_from_cart
from tests.storefront.conftest import ADDRESS
from tests.storefront.factories import BuyerFactory, ProductFactory


def _race(buyers, product, rounds_barrier):
    outcomes = {}

    def buy(buyer):
        try:
            rounds_barrier.wait(timeout=10)
            order = order_create_from_cart(
                buyer=buyer, cart_lines=[CartLine(product.pk, 1)], shipping_address=ADDRESS
            )
            outcomes[buyer.pk] = order.pk
        except OutOfStock:
            outcomes[buyer.pk] = "out_of_stock"
        except Exception as error:  # pragma: no cover - shown in the assertion
            outcomes[buyer.pk] = repr(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(buyer,)) for buyer in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_buyers_race_for_the_last_item_and_exactly_one_gets_it():
    for _round in range(5):  # a few rounds: each one is a fresh race
        product = ProductFactory(stock=1, price_minor=700)
        buyers = [BuyerFactory(), BuyerFactory()]
        outcomes = _race(buyers, product, threading.Barrier(2))
        assert sorted(str(v) for v in outcomes.values() if v == "out_of_stock") == ["out_of_stock"]
        assert Order.objects.filter(sub_orders__lines__product=product).count() == 1
        assert Product.objects.get(pk=product.pk).stock == 0


@pytest.mark.django_db(transaction=True)
def test_many_buyers_never_oversell():
    product = ProductFactory(stock=3, price_minor=700)
    buyers = [BuyerFactory() for _ in range(6)]
    outcomes = _race(buyers, product, threading.Barrier(6))
    sold = [v for v in outcomes.values() if v != "out_of_stock"]
    assert len(sold) == 3, outcomes
    assert Product.objects.get(pk=product.pk).stock == 0
