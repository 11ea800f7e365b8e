"""Dashboard keys: made at sign-up and login, locked by the password, re-locked on a password
change, replaced (and open orders re-sealed) on a password reset; and concurrent acceptance."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.dashboard_keys import dashboard_keys_of, dashboard_private_pem
from accounts.models import PlatformHeldKeyMaterial, SellerKey, User
from core import crypto
from core.errors import ApplicationError
from ledger.models import Transfer
from payments.fulfilment.acceptance import sub_order_accept
from payments.fulfilment.dashboard_acceptance import (
    sealed_document_open_with_password,
    sub_order_accept_with_password,
)
from payments.fulfilment.models import SealedOrderDocument
from payments.orders.models import OrderEvent
from tests.concurrency import run_together
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

NEW_PASSWORD = "a brand new passphrase 42"


@pytest.mark.django_db
def test_private_halves_are_stored_encrypted_and_open_only_with_the_password(key_pool):
    seller = make_seller(key_pool)
    keys = dashboard_keys_of(seller)
    assert keys.complete
    assert {keys.signing.origin, keys.encryption.origin} == {"platform_held"}
    assert keys.signing.algorithm == "ed25519" and keys.encryption.size_bits == 3072
    for material in PlatformHeldKeyMaterial.objects.filter(seller_key__seller=seller):
        assert b"PRIVATE KEY" not in bytes(material.private_pem_encrypted)
    assert "PRIVATE KEY" in dashboard_private_pem(key=keys.signing, password=PASSWORD)
    with pytest.raises(ApplicationError) as caught:
        dashboard_private_pem(key=keys.signing, password="not it")
    assert (caught.value.code, caught.value.field) == ("wrong_password", "password")


@pytest.mark.django_db
def test_sign_up_and_login_create_the_dashboard_keys(key_pool):
    client = Client()
    response = client.post(
        reverse("accounts:signup"),
        {
            "role": "seller",
            "email": "new.seller@example.test",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "legal_name": "New Seller GmbH",
            "country": "DE",
            "default_currency": "EUR",
            "settlement_currency": "EUR",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert dashboard_keys_of(User.objects.get(email="new.seller@example.test")).complete

    seller = make_seller(key_pool, dashboard=False)  # e.g. made before dashboard keys existed
    assert not dashboard_keys_of(seller).complete
    response = Client().post(
        reverse("accounts:login"), {"username": seller.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    keys = dashboard_keys_of(seller)
    assert keys.complete
    Client().post(reverse("accounts:login"), {"username": seller.email, "password": PASSWORD})
    assert dashboard_keys_of(seller) == keys  # a second login makes nothing new


@pytest.mark.django_db
def test_password_change_relocks_the_same_keys(key_pool):
    seller = make_seller(key_pool)
    before = dashboard_keys_of(seller)
    client = Client()
    client.force_login(seller)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    after = dashboard_keys_of(seller)
    assert after == before  # same keys, still active
    assert dashboard_private_pem(key=after.signing, password=NEW_PASSWORD)
    with pytest.raises(ApplicationError):
        dashboard_private_pem(key=after.signing, password=PASSWORD)
    # And they still work for an order.
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=700), 1)])
    pay_by_card(order, buyer)
    sub_order = sub_order_of(order, seller)
    assert sealed_document_open_with_password(
        sub_order_id=sub_order.pk, seller=seller, password=NEW_PASSWORD
    )
    accepted = sub_order_accept_with_password(
        sub_order_id=sub_order.pk, seller=seller, password=NEW_PASSWORD, actor="s"
    )
    assert accepted.status == "accepted"


@pytest.mark.django_db
def test_password_reset_retires_the_keys_and_reseals_open_orders(key_pool):
    seller = make_seller(key_pool)
    old = dashboard_keys_of(seller)
    buyer = make_buyer()
    open_order = place_order(buyer, [(make_product(seller, price=700), 1)])
    pay_by_card(open_order, buyer)
    decided_order = place_order(buyer, [(make_product(seller, price=800), 1)])
    pay_by_card(decided_order, buyer)
    decided = sub_order_of(decided_order, seller)
    sub_order_accept_with_password(
        sub_order_id=decided.pk, seller=seller, password=PASSWORD, actor="s"
    )

    client = Client()
    uid = urlsafe_base64_encode(force_bytes(seller.pk))
    token = default_token_generator.make_token(seller)
    response = client.get(reverse("accounts:password_reset_confirm", args=[uid, token]))
    assert response.status_code == 302  # to the set-password form (token moved to the session)
    response = client.post(
        response.url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302, response.content[:500]

    for key in (old.signing, old.encryption):
        assert SellerKey.objects.get(pk=key.pk).revoked_at is not None
    new = dashboard_keys_of(seller)
    assert new.complete and {new.signing.pk, new.encryption.pk}.isdisjoint(
        {old.signing.pk, old.encryption.pk}
    )
    open_sub = sub_order_of(open_order, seller)
    document = SealedOrderDocument.objects.get(sub_order=open_sub)
    assert document.seller_key == new.encryption
    assert (
        sealed_document_open_with_password(
            sub_order_id=open_sub.pk, seller=seller, password=NEW_PASSWORD
        )
        == document.canonical_document
    )
    assert OrderEvent.objects.filter(
        sub_order=open_sub, kind="order.sealed", data__resealed=True
    ).exists()
    # The accepted order keeps its document and signature (checked against the revoked key).
    assert SealedOrderDocument.objects.get(sub_order=decided).seller_key == old.encryption
    accepted = sub_order_accept_with_password(
        sub_order_id=open_sub.pk, seller=seller, password=NEW_PASSWORD, actor="s"
    )
    assert accepted.acceptance_key == new.signing


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_accepts_have_one_effect(key_pool):
    seller = make_seller(key_pool, dashboard=False)
    keys = own_keys(key_pool, seller)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=1999), 1)])
    payment = pay_by_card(order, buyer)
    sub_order = sub_order_of(order, seller)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    signature = base64.b64encode(
        crypto.sign(keys.signing_private, document.document_bytes, algorithm="ed25519")
    ).decode()

    def accept():
        return sub_order_accept(
            sub_order_id=sub_order.pk,
            seller=seller,
            key_id=keys.signing.id,
            signature_b64=signature,
            actor="seller:1",
        )

    results = run_together(accept, accept)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and getattr(errors[0], "code", None) == "already_accepted", results
    assert OrderEvent.objects.filter(sub_order=sub_order, kind="order.accepted").count() == 1
    assert Transfer.objects.filter(reason="payment_captured").count() == 1
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", 1999)


@pytest.mark.django_db
def test_login_replaces_keys_the_password_no_longer_opens(key_pool):
    seller = make_seller(key_pool)
    old = dashboard_keys_of(seller)
    seller.set_password(NEW_PASSWORD)  # e.g. staff set it in admin: the keys were not re-locked
    seller.save(update_fields=["password"])
    response = Client().post(
        reverse("accounts:login"), {"username": seller.email, "password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    new = dashboard_keys_of(seller)
    assert new.complete and new.signing.pk != old.signing.pk
    assert SellerKey.objects.get(pk=old.signing.pk).revoked_at is not None
    assert dashboard_private_pem(key=new.signing, password=NEW_PASSWORD)


@pytest.mark.django_db
def test_a_revoked_dashboard_key_is_replaced_at_login_and_open_orders_follow(
    key_pool, django_capture_on_commit_callbacks
):
    from accounts.services import seller_key_revoke

    seller = make_seller(key_pool)
    old = dashboard_keys_of(seller)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=700), 1)])
    pay_by_card(order, buyer)
    seller_key_revoke(key=old.encryption)  # from the Keys page
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(reverse("accounts:login"), {"username": seller.email, "password": PASSWORD})
    new = dashboard_keys_of(seller)
    assert new.encryption.pk != old.encryption.pk and new.signing == old.signing
    sub_order = sub_order_of(order, seller)
    assert SealedOrderDocument.objects.get(sub_order=sub_order).seller_key == new.encryption
    assert sealed_document_open_with_password(
        sub_order_id=sub_order.pk, seller=seller, password=PASSWORD
    )
