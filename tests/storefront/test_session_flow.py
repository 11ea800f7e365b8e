"""The hosted checkout page: a guest pays a seller's session; the seller reads the outcome."""

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from payments.checkout.sessions import checkout_session_create
from payments.models import Order, OrderStatus, Payment, PaymentStatus, Product
from payments.orders.models import CheckoutSession, CheckoutSessionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(seller_a, product_a):
    return checkout_session_create(
        seller=seller_a,
        currency="EUR",
        line_items=[
            {"product_id": product_a.pk, "quantity": 1},
            {"name": "Shipping", "unit_amount_minor": 490, "quantity": 1},
        ],
        success_url="https://shop.example/thanks",
        cancel_url="https://shop.example/cart",
    )


def _pay(client, session, number="4242424242424242", email="guest@example.test", method="card"):
    return client.post(
        reverse("payments:session", args=[session.pk]),
        {
            "email": email,
            "pay-method": method,
            "pay-card_number": number if method == "card" else "",
            "pay-card_exp": "12/34" if method == "card" else "",
            "pay-card_cvc": "947" if method == "card" else "",
        },
    )


def test_the_page_shows_the_items_and_a_labelled_form(client, session):
    body = client.get(reverse("payments:session", args=[session.pk])).content.decode()
    assert "Shipping" in body and "Mug" in body and "€17.40" in body
    assert '<label for="id_email">Email (for the receipt)</label>' in body
    assert '<label for="id_pay-card_number">Card number</label>' in body
    assert client.get(reverse("payments:session", args=[uuid.uuid4()])).status_code == 404


def test_a_guest_pays_by_card_and_the_seller_reads_paid(client, session, seller_a, product_a):
    response = _pay(client, session)
    assert response["Location"] == reverse("payments:session", args=[session.pk])
    session.refresh_from_db()
    assert session.status == CheckoutSessionStatus.COMPLETE
    order = session.order
    assert order.buyer is None and order.buyer_email == "guest@example.test"
    assert order.status == OrderStatus.PAID and order.total_minor == 1740
    assert Product.objects.get(pk=product_a.pk).stock == 4
    page = client.get(response["Location"]).content.decode()
    assert "Payment received" in page and 'href="https://shop.example/thanks"' in page

    api = APIClient()
    api.force_authenticate(seller_a)
    data = api.get(f"/api/v1/checkout/sessions/{session.pk}").json()
    assert (data["status"], data["payment_status"]) == ("complete", "paid")
    assert data["order"]["status"] == "paid" and data["payment"]["status"] == "authorized"
    assert data["customer_email"] == "guest@example.test"


def test_a_decline_lets_the_guest_retry_on_the_same_order(client, session, product_a):
    _pay(client, session, number="4000000000000002")
    session.refresh_from_db()
    assert session.status == CheckoutSessionStatus.OPEN
    assert session.order.status == OrderStatus.PAYMENT_FAILED
    assert Product.objects.get(pk=product_a.pk).stock == 5
    page = client.get(reverse("payments:session", args=[session.pk])).content.decode()
    assert Payment.objects.get().failure_message in page and "choose another method" in page
    _pay(client, session)
    session.refresh_from_db()
    assert session.status == CheckoutSessionStatus.COMPLETE
    assert Order.objects.count() == 1 and Payment.objects.count() == 2


def test_three_d_secure_returns_to_the_session_page(client, session):
    response = _pay(client, session, number="4000000000003220")
    payment = Payment.objects.get()
    assert response["Location"].startswith(f"/pay/3ds/{payment.id}/")
    assert payment.details["return_url"] == reverse("payments:session", args=[session.pk])
    client.post(response["Location"], {"action": "pass"})
    session.refresh_from_db()
    assert session.status == CheckoutSessionStatus.COMPLETE


def test_bad_email_or_card_reserves_nothing(client, session, product_a):
    assert _pay(client, session, email="nope").status_code == 400
    assert _pay(client, session, number="1234").status_code == 400
    assert Order.objects.count() == 0 and Product.objects.get(pk=product_a.pk).stock == 5


def test_an_expired_session_cannot_be_paid(client, session, product_a):
    with freeze_time(timezone.now() + timedelta(hours=25)):
        page = client.get(reverse("payments:session", args=[session.pk])).content.decode()
        assert "This checkout has expired" in page
        response = _pay(client, session)
        assert response.status_code == 302
    assert CheckoutSession.objects.get(pk=session.pk).status == CheckoutSessionStatus.EXPIRED
    assert Order.objects.count() == 0 and Payment.objects.count() == 0


def test_cancel_link_goes_back_to_the_shop(client, session):
    response = client.get(reverse("payments:session_cancel", args=[session.pk]))
    assert response["Location"] == "https://shop.example/cart"


def test_wallet_on_the_hosted_page(client, session):
    response = _pay(client, session, method="alipay")
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert response["Location"].startswith(f"/pay/wallet/{payment.id}/")
