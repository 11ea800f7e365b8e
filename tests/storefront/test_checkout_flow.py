"""The checkout page end to end with the real payment side (sandbox providers, vault, ledger)."""

import uuid

import pytest
from django.urls import reverse

from payments.checkout.models import CartItem
from payments.models import Order, OrderLine, OrderStatus, Payment, PaymentStatus, Product
from tests.storefront.conftest import ADDRESS

pytestmark = pytest.mark.django_db

SUCCESS = "4242 4242 4242 4242"
DECLINE = "4000000000000002"
INSUFFICIENT = "4000000000009995"
THREE_DS = "4000000000003220"


def _form(method="card", number=SUCCESS, exp="12/34", cvc="947", token=None, **extra):
    data = {f"ship-{key}": value for key, value in ADDRESS.items()}
    data |= {
        "checkout_token": str(token or uuid.uuid4()),
        "pay-method": method,
        "pay-card_number": number if method == "card" else "",
        "pay-card_exp": exp if method == "card" else "",
        "pay-card_cvc": cvc if method == "card" else "",
        "pay-card_holder": "Ada Buyer",
    }
    return data | extra


@pytest.fixture
def shopper(client, buyer, product_a, product_b):
    client.force_login(buyer)
    client.post(reverse("payments:cart_add", args=[product_a.pk]), {"quantity": "2"})
    client.post(reverse("payments:cart_add", args=[product_b.pk]), {"quantity": "1"})
    return client


def _stocks(*products):
    return [Product.objects.get(pk=p.pk).stock for p in products]


def test_card_checkout_pays_the_order_and_holds_escrow_per_seller(
    shopper, buyer, product_a, product_b
):
    response = shopper.post(reverse("payments:checkout"), _form())
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "payments:order", args=[order.pk]
    )
    assert order.status == OrderStatus.PAID and order.total_minor == 2899
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.AUTHORIZED and payment.amount_minor == 2899
    assert _stocks(product_a, product_b) == [3, 2]
    assert CartItem.objects.filter(cart__user=buyer).count() == 0
    body = shopper.get(response["Location"]).content.decode()
    assert "Paid (held in escrow)" in body
    assert 'data-testid="escrow-total"><strong>€28.99</strong>' in body


def test_tampered_hidden_price_and_seller_fields_change_nothing(shopper, seller_b, product_a):
    tampered = _form(
        **{
            "price_minor": "1",
            "unit_price_minor": "1",
            "total_minor": "1",
            "seller_id": str(seller_b.pk),
            "currency": "USD",
            f"items-{product_a.pk}-price": "1",
        }
    )
    shopper.post(reverse("payments:checkout"), tampered)
    order = Order.objects.get()
    assert (order.total_minor, order.currency) == (2899, "EUR")
    lines = {
        line.product_id: line
        for line in OrderLine.objects.filter(sub_order__order=order).select_related("sub_order")
    }
    assert lines[product_a.pk].unit_price_minor == 1250
    assert lines[product_a.pk].sub_order.seller_id == product_a.seller_id
    assert Payment.objects.get().amount_minor == 2899


@pytest.mark.parametrize(
    ("changes", "field_id", "message"),
    [
        ({"pay-card_number": "4242 4242 4242 4241"}, "id_pay-card_number", "card number"),
        ({"pay-card_number": ""}, "id_pay-card_number", "Enter the card number."),
        ({"pay-card_exp": "13/30"}, "id_pay-card_exp", ""),
        ({"pay-card_exp": "01/20"}, "id_pay-card_exp", ""),
        ({"pay-card_exp": "soon"}, "id_pay-card_exp", "MM/YY"),
        ({"pay-card_cvc": "12"}, "id_pay-card_cvc", ""),
        ({"ship-country": "Germany"}, "id_ship-country", ""),
        ({"ship-name": ""}, "id_ship-name", "required"),
        ({"pay-method": "cash"}, "id_pay-method", "valid choice"),
    ],
)
def test_bad_input_is_shown_beside_the_field_and_reserves_nothing(
    shopper, product_a, product_b, changes, field_id, message
):
    data = _form() | changes
    response = shopper.post(reverse("payments:checkout"), data)
    assert response.status_code == 400
    body = response.content.decode()
    assert f'id="{field_id}_error"' in body
    assert message in body
    assert Order.objects.count() == 0 and Payment.objects.count() == 0
    assert _stocks(product_a, product_b) == [5, 3]
    # The card number and CVC are never echoed back into the page.
    for secret in (data["pay-card_number"], data["pay-card_number"].replace(" ", "")):
        assert not secret or secret not in body
    assert 'value="947"' not in body


def test_a_declined_card_says_why_and_the_buyer_retries_on_the_same_order(
    shopper, product_a, product_b
):
    response = shopper.post(reverse("payments:checkout"), _form(number=INSUFFICIENT))
    order = Order.objects.get()
    assert response["Location"] == reverse("payments:order_pay", args=[order.pk])
    assert order.status == OrderStatus.PAYMENT_FAILED
    assert _stocks(product_a, product_b) == [5, 3]  # released
    page = shopper.get(response["Location"]).content.decode()
    failed = Payment.objects.get()
    assert failed.status == PaymentStatus.FAILED and failed.failure_message
    assert failed.failure_message in page
    assert "Try another card or choose another method" in page

    retry = shopper.post(
        reverse("payments:order_pay", args=[order.pk]),
        {
            "pay-method": "card",
            "pay-card_number": SUCCESS,
            "pay-card_exp": "12/34",
            "pay-card_cvc": "947",
        },
    )
    assert retry["Location"] == reverse("payments:order", args=[order.pk])
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert Order.objects.count() == 1 and Payment.objects.count() == 2
    assert _stocks(product_a, product_b) == [3, 2]


def test_three_d_secure_redirects_to_the_challenge_and_passing_pays(shopper, product_a):
    response = shopper.post(reverse("payments:checkout"), _form(number=THREE_DS))
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert response["Location"].startswith(f"/pay/3ds/{payment.id}/")
    order = Order.objects.get()
    status = shopper.get(reverse("payments:order_status", args=[order.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in status
    shopper.post(response["Location"], {"action": "pass"})
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    status = shopper.get(reverse("payments:order_status", args=[order.pk])).content.decode()
    assert "every 2s" not in status and "Paid (held in escrow)" in status


@pytest.mark.parametrize("wallet", ["alipay", "wechat"])
def test_wallet_redirects_to_the_wallet_page(shopper, wallet):
    response = shopper.post(reverse("payments:checkout"), _form(method=wallet))
    payment = Payment.objects.get()
    assert (payment.method, payment.provider, payment.status) == (
        "wallet",
        wallet,
        PaymentStatus.REQUIRES_ACTION,
    )
    assert response["Location"].startswith(f"/pay/wallet/{payment.id}/")


def test_bank_transfer_shows_instructions_and_holds_stock_until_its_deadline(shopper):
    response = shopper.post(reverse("payments:checkout"), _form(method="bank_transfer"))
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.AWAITING_TRANSFER
    assert response["Location"].startswith(f"/pay/bank/{payment.id}/")
    order = Order.objects.get()
    assert order.expires_at == payment.expires_at


def test_a_resubmitted_form_does_not_make_a_second_order(shopper):
    token = uuid.uuid4()
    shopper.post(reverse("payments:checkout"), _form(token=token))
    again = shopper.post(reverse("payments:checkout"), _form(token=token))
    order = Order.objects.get()
    assert Payment.objects.count() == 1
    assert again.status_code == 302 and again["Location"] == reverse(
        "payments:order", args=[order.pk]
    )


def test_out_of_stock_at_checkout_is_a_clear_message_and_reserves_nothing(
    shopper, product_a, product_b
):
    Product.objects.filter(pk=product_b.pk).update(stock=0)
    response = shopper.post(reverse("payments:checkout"), _form())
    assert response.status_code == 400
    assert (
        "Out of stock" in response.content.decode() or "out of stock" in response.content.decode()
    )
    assert Order.objects.count() == 0 and _stocks(product_a) == [5]
