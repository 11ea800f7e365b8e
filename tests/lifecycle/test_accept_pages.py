"""Seller order pages: list, detail, accept / reject / ship, open the sealed document; other
sellers' orders are 404; errors beside the field; CSRF."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from payments.fulfilment.models import SealedOrderDocument
from payments.models import SubOrder
from tests.lifecycle.accept_fixtures import (
    PASSWORD,
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    make_seller,
    own_keys,
    pay_by_card,
    place_order,
    sub_order_of,
)
from tests.two_factor import verify_second_factor

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(key_pool):
    seller, other = make_seller(key_pool), make_seller(key_pool)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=1234), 1)])
    pay_by_card(order, buyer)
    theirs = place_order(buyer, [(make_product(other, price=999), 1)])
    pay_by_card(theirs, buyer)
    client = Client()
    client.force_login(seller)
    return {
        "seller": seller,
        "client": client,
        "sub_order": sub_order_of(order, seller),
        "order": order,
        "theirs": sub_order_of(theirs, other),
    }


def url(name, sub_order):
    return reverse(f"payments:{name}", args=[sub_order.pk])


def test_the_list_shows_only_the_sellers_orders_and_the_nav_links_to_it(scene):
    response = scene["client"].get(reverse("dashboard:orders"))
    page = response.content.decode()
    assert response.status_code == 200
    assert scene["order"].number in page and "Paid, awaiting seller" in page
    assert scene["theirs"].order.number not in page
    assert f'href="{reverse("dashboard:orders")}"' in page and ">Orders<" in page


def test_the_detail_shows_lines_address_document_and_timeline(scene):
    sub_order = scene["sub_order"]
    page = scene["client"].get(url("seller_order", sub_order)).content.decode()
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    assert document.sha256 in page
    assert "Hauptstr. 1" in page and "Berlin" in page
    assert "Order paid (held in escrow)" in page and "Order sent to the seller" in page
    assert url("seller_order_document", sub_order) in page


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("seller_order", "get"),
        ("seller_order_document", "get"),
        ("seller_order_accept", "post"),
        ("seller_order_reject", "post"),
        ("seller_order_ship", "post"),
    ],
)
def test_another_sellers_order_is_404_and_unchanged(scene, name, method):
    theirs = scene["theirs"]
    data = {"accept-password": PASSWORD, "reject-reason": "mine now", "password": PASSWORD}
    response = getattr(scene["client"], method)(url(name, theirs), data)
    assert response.status_code == 404
    assert SubOrder.objects.get(pk=theirs.pk).status == "awaiting_acceptance"


def test_accept_with_a_wrong_password_shows_the_error_beside_the_field(scene):
    sub_order = scene["sub_order"]
    response = scene["client"].post(
        url("seller_order_accept", sub_order), {"accept-password": "no"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_accept-password_error"' in page and "The password is not right." in page
    assert SubOrder.objects.get(pk=sub_order.pk).status == "awaiting_acceptance"


def test_accept_then_ship(scene):
    sub_order = scene["sub_order"]
    response = scene["client"].post(
        url("seller_order_accept", sub_order), {"accept-password": PASSWORD}
    )
    assert response.status_code == 302
    assert SubOrder.objects.get(pk=sub_order.pk).status == "accepted"
    page = scene["client"].get(url("seller_order", sub_order)).content.decode()
    assert "Mark shipped" in page and "Accept and sign" not in page
    response = scene["client"].post(url("seller_order_ship", sub_order), {"ship-tracking": "DHL 1"})
    assert response.status_code == 302
    assert SubOrder.objects.get(pk=sub_order.pk).status == "shipped"


def test_reject_needs_a_reason(scene):
    sub_order = scene["sub_order"]
    response = scene["client"].post(url("seller_order_reject", sub_order), {"reject-reason": ""})
    assert response.status_code == 400
    assert 'id="id_reject-reason_error"' in response.content.decode()
    response = scene["client"].post(
        url("seller_order_reject", sub_order), {"reject-reason": "Out of stock"}
    )
    assert response.status_code == 302
    assert SubOrder.objects.get(pk=sub_order.pk).status == "rejected"


def test_open_the_sealed_document_with_the_password(scene):
    sub_order = scene["sub_order"]
    target = url("seller_order_document", sub_order)
    response = scene["client"].post(target, {"password": "wrong"})
    assert response.status_code == 400
    assert "The password is not right." in response.content.decode()
    response = scene["client"].post(target, {"password": PASSWORD})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("no-store")
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    assert response.context["opened"] == document.canonical_document


def test_forms_need_the_csrf_token(scene):
    client = Client(enforce_csrf_checks=True)
    client.force_login(scene["seller"])
    sub_order = scene["sub_order"]
    response = client.post(url("seller_order_accept", sub_order), {"accept-password": PASSWORD})
    assert response.status_code == 403
    assert SubOrder.objects.get(pk=sub_order.pk).status == "awaiting_acceptance"


def test_buyers_cannot_use_seller_pages(scene):
    client = Client()
    client.force_login(make_buyer())
    assert client.get(reverse("dashboard:orders")).status_code == 403


def test_staff_see_sealed_documents_read_only_in_admin(scene):
    from accounts.models import User

    staff = User.objects.create_superuser("staff-accept@example.test", "x")
    client = verify_second_factor(Client(), staff)
    document = SealedOrderDocument.objects.get(sub_order=scene["sub_order"])
    changelist = client.get(reverse("admin:payments_sealedorderdocument_changelist"))
    assert changelist.status_code == 200 and document.sha256 in changelist.content.decode()
    change = client.get(reverse("admin:payments_sealedorderdocument_change", args=[document.pk]))
    assert change.status_code == 200


def test_a_document_sealed_to_the_sellers_own_key_is_offered_for_download_not_a_password(
    key_pool,
):
    seller = make_seller(key_pool, dashboard=False)
    own_keys(key_pool, seller, encryption=True)  # the seller's own encryption key
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=1234), 1)])
    pay_by_card(order, buyer)
    sub_order = sub_order_of(order, seller)
    client = Client()
    client.force_login(seller)
    target = url("seller_order_document", sub_order)

    page = client.get(target).content.decode()
    tried = client.post(target, {"password": PASSWORD})
    download = client.get(target, {"download": "sealed"})

    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    assert document.seller_key.origin == "uploaded"
    assert 'data-testid="own-key-instructions"' in page and 'name="password"' not in page
    assert f"clearhouse:order-document:{sub_order.pk}" in page and "README" in page
    assert tried.status_code == 400 and "opened" not in tried.context
    assert "sealed to your own key" in tried.content.decode()
    assert download["Content-Type"] == "application/octet-stream"
    assert download.content == bytes(document.sealed)
