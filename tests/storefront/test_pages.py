"""Storefront pages: browse, cart, order pages (404 for others), live status partial, escrow shown."""

import uuid

import pytest
from django.urls import reverse

from ledger.models import Account, Transfer
from payments.checkout.models import CartItem
from payments.models import Order, OrderStatus, Product
from payments.orders.input import CartLine
from payments.orders.payment_outcomes import order_mark_paid, order_mark_payment_failed
from payments.orders.services import order_create_from_cart
from tests.storefront.conftest import ADDRESS
from tests.storefront.factories import BuyerFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_shop_lists_active_products_and_searches(client, product_a, product_b):
    ProductFactory(title="Hidden lamp", is_active=False)
    page = client.get(reverse("payments:shop"))
    assert page.status_code == 200
    assert (
        b"Mug" in page.content and b"Towel" in page.content and b"Hidden lamp" not in page.content
    )
    assert "€12.50" in page.content.decode()
    found = client.get(reverse("payments:shop"), {"q": "towel"})
    assert b"Towel" in found.content and b"Mug" not in found.content


def test_product_page_and_404_for_inactive(client, product_a):
    page = client.get(reverse("payments:product", args=[product_a.pk]))
    assert page.status_code == 200
    assert b'<label for="id_quantity">Quantity</label>' in page.content
    Product.objects.filter(pk=product_a.pk).update(is_active=False)
    assert client.get(reverse("payments:product", args=[product_a.pk])).status_code == 404


def test_add_to_cart_ignores_tampered_price_and_seller_fields(client, buyer, product_a, seller_b):
    client.force_login(buyer)
    response = client.post(
        reverse("payments:cart_add", args=[product_a.pk]),
        {
            "quantity": "2",
            "price_minor": "1",
            "unit_price_minor": "1",
            "seller_id": str(seller_b.pk),
            "currency": "USD",
        },
    )
    assert response.status_code == 302
    item = CartItem.objects.get(cart__user=buyer)
    assert (item.product_id, item.quantity) == (product_a.pk, 2)
    cart = client.get(reverse("payments:cart")).content.decode()
    assert "€25.00" in cart  # 2 x 12.50 from the database


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("0", "at least 1"),
        ("-2", "whole number"),
        ("1.5", "whole number"),
        ("9999", "At most 100"),
        ("6", "only 5 left"),
    ],
)
def test_bad_quantity_shows_the_error_beside_the_field(client, buyer, product_a, quantity, message):
    client.force_login(buyer)
    response = client.post(
        reverse("payments:cart_add", args=[product_a.pk]), {"quantity": quantity}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'class="errorlist" id="id_quantity_error"' in body
    assert message in body
    assert CartItem.objects.count() == 0


def test_add_to_cart_of_unknown_product_is_404(client, buyer):
    client.force_login(buyer)
    assert (
        client.post(reverse("payments:cart_add", args=[987654]), {"quantity": "1"}).status_code
        == 404
    )


def test_guest_can_fill_a_cart_but_must_log_in_to_check_out(client, product_a):
    client.post(reverse("payments:cart_add", args=[product_a.pk]), {"quantity": "1"})
    assert "Mug" in client.get(reverse("payments:cart")).content.decode()
    response = client.get(reverse("payments:checkout"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_cart_update_and_remove(client, buyer, product_a):
    client.force_login(buyer)
    client.post(reverse("payments:cart_add", args=[product_a.pk]), {"quantity": "1"})
    client.post(
        reverse("payments:cart_update", args=[product_a.pk]), {"quantity": "3", "action": "update"}
    )
    assert CartItem.objects.get().quantity == 3
    response = client.post(
        reverse("payments:cart_update", args=[product_a.pk]),
        {"quantity": "77", "action": "update"},
        follow=True,
    )
    assert "only 5 left" in response.content.decode()
    assert CartItem.objects.get().quantity == 3
    client.post(reverse("payments:cart_update", args=[product_a.pk]), {"action": "remove"})
    assert CartItem.objects.count() == 0


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client, buyer):
    client.force_login(buyer)
    response = client.get(reverse("payments:checkout"))
    assert response.status_code == 302 and response["Location"] == reverse("payments:cart")


def test_checkout_page_has_labelled_fields(client, buyer, product_a):
    client.force_login(buyer)
    client.post(reverse("payments:cart_add", args=[product_a.pk]), {"quantity": "1"})
    body = client.get(reverse("payments:checkout")).content.decode()
    for field_id, label in [
        ("id_ship-name", "Full name"),
        ("id_ship-line1", "Address"),
        ("id_ship-country", "Country"),
        ("id_pay-card_number", "Card number"),
        ("id_pay-card_exp", "Expiry (MM/YY)"),
        ("id_pay-card_cvc", "Security code (CVC)"),
        ("id_pay-card_holder", "Name on card"),
    ]:
        assert f'<label for="{field_id}">{label}</label>' in body
    assert (
        "Alipay-style wallet" in body and "WeChat-style wallet" in body and "Bank transfer" in body
    )
    assert 'name="checkout_token"' in body


@pytest.fixture
def order(buyer, product_a, product_b):
    return order_create_from_cart(
        buyer=buyer,
        cart_lines=[CartLine(product_a.pk, 1), CartLine(product_b.pk, 2)],
        shipping_address=ADDRESS,
    )


def test_order_pages_are_the_buyers_only(client, order):
    detail = reverse("payments:order", args=[order.pk])
    partial = reverse("payments:order_status", args=[order.pk])
    pay = reverse("payments:order_pay", args=[order.pk])
    assert client.get(detail).status_code == 302  # anonymous: log in first
    client.force_login(BuyerFactory())
    for url in (detail, partial, pay):
        assert client.get(url).status_code == 404
    assert client.get(reverse("payments:order", args=[uuid.uuid4()])).status_code == 404
    client.force_login(order.buyer)
    assert client.get(detail).status_code == 200


def test_order_list_shows_own_orders_only(client, order, product_a):
    other = order_create_from_cart(
        buyer=BuyerFactory(), cart_lines=[CartLine(product_a.pk, 1)], shipping_address=ADDRESS
    )
    client.force_login(order.buyer)
    body = client.get(reverse("payments:orders")).content.decode()
    assert order.number in body and other.number not in body


def test_status_partial_polls_while_awaiting_payment_and_stops_when_failed(client, order):
    client.force_login(order.buyer)
    partial = client.get(reverse("payments:order_status", args=[order.pk]), HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in body
    assert f'hx-get="{reverse("payments:order_status", args=[order.pk])}"' in body
    assert 'hx-trigger="every 2s"' in body
    assert "Awaiting payment" in body

    order_mark_payment_failed(order=order, reason="Your card was declined by your bank.")
    body = client.get(reverse("payments:order_status", args=[order.pk])).content.decode()
    assert "hx-get" not in body
    assert "Your card was declined by your bank." in body
    assert "Try another payment method" in body


def _escrow_hold(sub_order, amount):
    escrow, _ = Account.objects.get_or_create(currency="EUR", code="platform:escrow")
    external, _ = Account.objects.get_or_create(currency="EUR", code="external:sandbox_card")
    transfer = Transfer.objects.create(
        kind="pending",
        debit_account=external,
        credit_account=escrow,
        amount_minor=amount,
        currency="EUR",
        reason="payment_hold",
        created_at=sub_order.created_at,
    )
    sub_order.escrow_transfer_id = transfer.id
    sub_order.save(update_fields=["escrow_transfer_id"])
    return transfer


def test_paid_order_shows_each_sub_orders_escrow_from_the_ledger(client, order):
    subs = list(order.sub_orders.order_by("id"))
    _escrow_hold(subs[0], subs[0].amount_minor)
    hold = _escrow_hold(subs[1], subs[1].amount_minor)
    # The second hold has been captured (posted in full).
    Transfer.objects.create(
        kind="post_pending",
        debit_account=hold.debit_account,
        credit_account=hold.credit_account,
        amount_minor=hold.amount_minor,
        currency="EUR",
        pending=hold,
        reason="payment_capture",
        created_at=hold.created_at,
    )
    order_mark_paid(order=order)
    client.force_login(order.buyer)
    body = client.get(reverse("payments:order", args=[order.pk])).content.decode()
    assert "Paid (held in escrow)" in body
    assert f'data-testid="escrow-{subs[0].pk}">€12.50 <span class="muted">(authorised)' in body
    assert f'data-testid="escrow-{subs[1].pk}">€7.98 <span class="muted">(captured)' in body
    assert 'data-testid="escrow-total"><strong>€20.48</strong>' in body
    assert 'hx-trigger="every 15s"' in body  # paid: slow polling while sellers have not acted
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
