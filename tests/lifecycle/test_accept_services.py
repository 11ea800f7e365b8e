"""Seller acceptance: sealed order documents, signatures, rejection, lapse, shipping, and each
seller's money captured or released on its own (multicapture)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from accounts.dashboard_keys import dashboard_keys_of, dashboard_private_pem
from accounts.services import seller_key_revoke
from core import crypto
from core.errors import ApplicationError, NotFound
from ledger.models import Transfer
from payments.fulfilment.acceptance import sub_order_accept
from payments.fulfilment.dashboard_acceptance import (
    sealed_document_open_with_password,
    sub_order_accept_with_password,
)
from payments.fulfilment.documents import document_associated_data
from payments.fulfilment.models import SealedOrderDocument
from payments.fulfilment.rejection import acceptance_expire_due, sub_order_reject
from payments.fulfilment.shipping import sub_order_mark_shipped
from payments.models import Order, Payment, Product
from payments.orders.models import OrderEvent
from payments.providers.models import SandboxCardCharge, SandboxWalletTrade
from tests.lifecycle.accept_fixtures import (
    PASSWORD,
    balance,
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    make_seller,
    own_keys,
    pay_by_bank_transfer,
    pay_by_card,
    pay_by_wallet,
    place_order,
    snapshot,
    sub_order_of,
)

pytestmark = pytest.mark.django_db


def sign_b64(private_pem: str, document: SealedOrderDocument, algorithm: str) -> str:
    return base64.b64encode(
        crypto.sign(private_pem, document.document_bytes, algorithm=algorithm)
    ).decode()


def one_seller_card_order(key_pool, *, algorithm=crypto.ED25519, encryption=False, quantity=2):
    seller = make_seller(key_pool)
    keys = own_keys(key_pool, seller, algorithm=algorithm, encryption=encryption)
    buyer = make_buyer()
    product = make_product(seller, price=1250, stock=5)
    order = place_order(buyer, [(product, quantity)])
    payment = pay_by_card(order, buyer)
    sub_order = sub_order_of(order, seller)
    return seller, keys, order, payment, sub_order, product


# --- sealing ------------------------------------------------------------------------------------


def test_paying_seals_the_order_document_to_the_sellers_own_key_and_it_opens(key_pool):
    seller, keys, order, _payment, sub_order, _ = one_seller_card_order(key_pool, encryption=True)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    assert document.seller_key == keys.encryption
    opened = crypto.open_sealed(
        keys.encryption_private,
        bytes(document.sealed),
        associated_data=document_associated_data(sub_order.pk),
    )
    assert opened == document.document_bytes
    assert crypto.sha256(opened).hex() == document.sha256
    facts = json.loads(opened)
    assert facts["sub_order_id"] == sub_order.pk and facts["seller_id"] == seller.pk
    assert facts["order"]["number"] == order.number
    assert facts["items"][0]["quantity"] == 2 and facts["amount_minor"] == 2500
    assert facts["payment"]["card"] == {"brand": "visa", "last4": "4242"}
    assert "4242424242424242" not in document.canonical_document
    assert facts["shipping_address"]["city"] == "Berlin"
    assert facts["buyer_reference"].startswith("buyer_")
    assert order.buyer_email not in document.canonical_document  # opaque: no email, no name
    # The timeline: order.paid then order.sealed, carrying the sealed copy for the webhook.
    kinds = list(OrderEvent.objects.filter(sub_order=sub_order).values_list("kind", flat=True))
    assert kinds == ["order.paid", "order.sealed"]
    sealed_event = OrderEvent.objects.get(sub_order=sub_order, kind="order.sealed")
    assert base64.b64decode(sealed_event.data["sealed_document"]) == bytes(document.sealed)
    assert sealed_event.data["document_sha256"] == document.sha256
    assert sealed_event.data["key_id"] == str(keys.encryption.id)
    sub_order.refresh_from_db()
    assert sub_order.status == "awaiting_acceptance"
    assert timedelta(hours=47) < sub_order.accept_by - timezone.now() <= timedelta(hours=48)


def test_sealing_happens_once_per_sub_order(key_pool):
    from payments.fulfilment.documents import order_document_create
    from payments.orders.payment_outcomes import order_mark_paid

    _, _, order, payment, sub_order, _ = one_seller_card_order(key_pool)
    order_mark_paid(order=order)  # paid already: nothing again
    order_document_create(sub_order=sub_order, payment=payment)
    assert SealedOrderDocument.objects.filter(sub_order=sub_order).count() == 1
    assert OrderEvent.objects.filter(sub_order=sub_order, kind="order.sealed").count() == 1


def test_the_platform_cannot_read_a_document_sealed_to_a_key_it_does_not_hold(key_pool):
    seller, _keys, _order, _payment, sub_order, _ = one_seller_card_order(key_pool, encryption=True)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    # The only private keys the platform could ever unlock are the seller's dashboard keys.
    dashboard = dashboard_keys_of(seller).encryption
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(
            dashboard_private_pem(key=dashboard, password=PASSWORD),
            bytes(document.sealed),
            associated_data=document_associated_data(sub_order.pk),
        )
    with pytest.raises(ApplicationError) as caught:
        sealed_document_open_with_password(
            sub_order_id=sub_order.pk, seller=seller, password=PASSWORD
        )
    assert caught.value.code == "sealed_to_own_key"


def test_a_seller_without_own_encryption_key_gets_it_sealed_to_the_dashboard_key(key_pool):
    seller, _, _order, _payment, sub_order, _ = one_seller_card_order(key_pool)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    assert document.seller_key == dashboard_keys_of(seller).encryption
    text = sealed_document_open_with_password(
        sub_order_id=sub_order.pk, seller=seller, password=PASSWORD
    )
    assert text == document.canonical_document


# --- accept -------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [crypto.ED25519, crypto.RSA_PSS_SHA256])
def test_a_valid_signature_accepts_and_captures(key_pool, algorithm):
    seller, keys, _order, payment, sub_order, _ = one_seller_card_order(
        key_pool, algorithm=algorithm
    )
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    signature = sign_b64(keys.signing_private, document, algorithm)
    accepted = sub_order_accept(
        sub_order_id=sub_order.pk,
        seller=seller,
        key_id=str(keys.signing.id),
        signature_b64=signature,
        actor=f"seller:{seller.pk}",
    )
    assert accepted.status == "accepted" and accepted.accepted_at is not None
    assert (accepted.acceptance_signature, accepted.acceptance_key) == (signature, keys.signing)
    assert accepted.captured_minor == 2500
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", 2500)
    escrow = balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 2500)
    assert balance("external:sandbox_card").debits_posted == 2500
    charge = SandboxCardCharge.objects.get(reference=payment.provider_reference)
    assert (charge.status, charge.captured_minor) == ("captured", 2500)
    event = OrderEvent.objects.get(sub_order=sub_order, kind="order.accepted")
    assert event.data["document_sha256"] == document.sha256
    assert event.data["key_id"] == str(keys.signing.id)


def _bad_cases():
    def other_document(ctx):
        other = ctx["other_document"]
        return {
            "key_id": str(ctx["keys"].signing.id),
            "signature_b64": sign_b64(ctx["keys"].signing_private, other, crypto.ED25519),
        }

    def other_sellers_key(ctx):
        theirs = ctx["other_keys"]
        return {
            "key_id": str(theirs.signing.id),
            "signature_b64": sign_b64(theirs.signing_private, ctx["document"], crypto.ED25519),
        }

    def revoked_key(ctx):
        seller_key_revoke(key=ctx["keys"].signing)
        return {"key_id": str(ctx["keys"].signing.id), "signature_b64": ctx["good"]}

    def malformed_base64(ctx):
        return {"key_id": str(ctx["keys"].signing.id), "signature_b64": "not base64!!"}

    def truncated_signature(ctx):
        raw = base64.b64decode(ctx["good"])[:-1]
        return {
            "key_id": str(ctx["keys"].signing.id),
            "signature_b64": base64.b64encode(raw).decode(),
        }

    def wrong_algorithm(ctx):
        return {
            "key_id": str(ctx["keys"].signing.id),
            "signature_b64": ctx["good"],
            "algorithm": crypto.RSA_PSS_SHA256,
        }

    def encryption_key(ctx):
        return {"key_id": str(ctx["dashboard_encryption"].id), "signature_b64": ctx["good"]}

    def unknown_key(ctx):
        return {"key_id": "0b3c2a8e-6a55-4c1e-9d0e-6d1f1a6c7b21", "signature_b64": ctx["good"]}

    return [
        (other_document, "signature_invalid", "signature"),
        (other_sellers_key, "unknown_key", "key_id"),
        (revoked_key, "key_revoked", "key_id"),
        (malformed_base64, "signature_malformed", "signature"),
        (truncated_signature, "signature_invalid", "signature"),
        (wrong_algorithm, "algorithm_mismatch", "algorithm"),
        (encryption_key, "not_a_signing_key", "key_id"),
        (unknown_key, "unknown_key", "key_id"),
    ]


@pytest.mark.parametrize(
    ("make_args", "code", "field"), _bad_cases(), ids=lambda v: getattr(v, "__name__", str(v))
)
def test_a_bad_signature_is_refused_and_changes_nothing(key_pool, make_args, code, field):
    seller, keys, _order, payment, sub_order, _ = one_seller_card_order(key_pool)
    # A second order of the same seller (another document) and a second seller with keys.
    buyer = make_buyer()
    other_order = place_order(buyer, [(make_product(seller, price=999), 1)])
    pay_by_card(other_order, buyer)
    other_seller = make_seller(key_pool, dashboard=False)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    ctx = {
        "keys": keys,
        "document": document,
        "other_document": SealedOrderDocument.objects.get(sub_order__order=other_order),
        "other_keys": own_keys(key_pool, other_seller),
        "good": sign_b64(keys.signing_private, document, crypto.ED25519),
        "dashboard_encryption": dashboard_keys_of(seller).encryption,
    }
    args = make_args(ctx)
    before = snapshot(sub_order)
    with pytest.raises(ApplicationError) as caught:
        sub_order_accept(sub_order_id=sub_order.pk, seller=seller, actor="seller:1", **args)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert snapshot(sub_order) == before
    assert SandboxCardCharge.objects.get(reference=payment.provider_reference).captured_minor == 0


def test_accepting_twice_is_refused_and_changes_nothing(key_pool):
    seller, keys, _order, _payment, sub_order, _ = one_seller_card_order(key_pool)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    args = {
        "sub_order_id": sub_order.pk,
        "seller": seller,
        "key_id": keys.signing.id,
        "signature_b64": sign_b64(keys.signing_private, document, crypto.ED25519),
        "actor": "seller:1",
    }
    sub_order_accept(**args)
    before = snapshot(sub_order)
    with pytest.raises(ApplicationError) as caught:
        sub_order_accept(**args)
    assert caught.value.code == "already_accepted"
    assert snapshot(sub_order) == before


def test_another_seller_cannot_accept_or_reject(key_pool):
    _seller, _keys, _order, _payment, sub_order, _ = one_seller_card_order(key_pool)
    intruder = make_seller(key_pool, dashboard=False)
    intruder_keys = own_keys(key_pool, intruder)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    before = snapshot(sub_order)
    with pytest.raises(NotFound):
        sub_order_accept(
            sub_order_id=sub_order.pk,
            seller=intruder,
            key_id=intruder_keys.signing.id,
            signature_b64=sign_b64(intruder_keys.signing_private, document, crypto.ED25519),
            actor="seller:x",
        )
    with pytest.raises(NotFound):
        sub_order_reject(sub_order_id=sub_order.pk, seller=intruder, reason="no", actor="x")
    assert snapshot(sub_order) == before


def test_accept_after_reject_or_lapse_is_refused(key_pool):
    seller, keys, _order, _payment, sub_order, _ = one_seller_card_order(key_pool)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    sub_order_reject(sub_order_id=sub_order.pk, seller=seller, reason="Out of stock", actor="s")
    before = snapshot(sub_order)
    with pytest.raises(ApplicationError) as caught:
        sub_order_accept(
            sub_order_id=sub_order.pk,
            seller=seller,
            key_id=keys.signing.id,
            signature_b64=sign_b64(keys.signing_private, document, crypto.ED25519),
            actor="s",
        )
    assert caught.value.code == "order_rejected"
    assert snapshot(sub_order) == before

    seller2, keys2, _, _, lapsed, _ = one_seller_card_order(key_pool)
    with freeze_time(timezone.now() + timedelta(hours=49)):
        with pytest.raises(ApplicationError) as caught:  # window closed, sweeper not run yet
            sub_order_accept(
                sub_order_id=lapsed.pk,
                seller=seller2,
                key_id=keys2.signing.id,
                signature_b64=sign_b64(
                    keys2.signing_private,
                    SealedOrderDocument.objects.get(sub_order=lapsed),
                    crypto.ED25519,
                ),
                actor="s",
            )
        assert caught.value.code == "acceptance_expired"
        assert acceptance_expire_due() == 1
        with pytest.raises(ApplicationError) as caught:
            sub_order_accept_with_password(
                sub_order_id=lapsed.pk, seller=seller2, password=PASSWORD, actor="s"
            )
        assert caught.value.code == "acceptance_expired"


# --- dashboard ----------------------------------------------------------------------------------


def test_dashboard_accept_with_the_right_password(key_pool):
    seller, _, _order, _payment, sub_order, _ = one_seller_card_order(key_pool)
    accepted = sub_order_accept_with_password(
        sub_order_id=sub_order.pk, seller=seller, password=PASSWORD, actor="seller:1"
    )
    key = dashboard_keys_of(seller).signing
    assert (accepted.status, accepted.acceptance_key) == ("accepted", key)
    crypto.verify(
        key.public_pem,
        SealedOrderDocument.objects.get(sub_order=sub_order).document_bytes,
        base64.b64decode(accepted.acceptance_signature),
        algorithm=key.algorithm,
    )


def test_dashboard_accept_with_a_wrong_password_changes_nothing_and_locks_out(key_pool, settings):
    settings.CLEARHOUSE_DASHBOARD_PASSWORD_FAILURES = 3
    seller, _, _order, _payment, sub_order, _ = one_seller_card_order(key_pool)
    before = snapshot(sub_order)
    for _ in range(3):
        with pytest.raises(ApplicationError) as caught:
            sub_order_accept_with_password(
                sub_order_id=sub_order.pk, seller=seller, password="wrong", actor="seller:1"
            )
        assert (caught.value.code, caught.value.field) == ("wrong_password", "password")
    with pytest.raises(ApplicationError) as caught:  # now even the right one waits
        sub_order_accept_with_password(
            sub_order_id=sub_order.pk, seller=seller, password=PASSWORD, actor="seller:1"
        )
    assert (caught.value.code, caught.value.http_status) == ("too_many_attempts", 429)
    assert snapshot(sub_order) == before


# --- reject, lapse, ship ------------------------------------------------------------------------


def test_the_window_lapsing_voids_the_card_hold_restocks_and_cancels(key_pool):
    _seller, _keys, order, payment, sub_order, product = one_seller_card_order(key_pool, quantity=3)
    assert Product.objects.get(pk=product.pk).stock == 2
    with freeze_time(timezone.now() + timedelta(hours=47)):
        assert acceptance_expire_due() == 0
    with freeze_time(timezone.now() + timedelta(hours=48, seconds=1)):
        assert acceptance_expire_due() == 1
        assert acceptance_expire_due() == 0  # idempotent
    sub_order.refresh_from_db()
    assert (sub_order.status, sub_order.rejection_reason) == (
        "rejected",
        "The seller did not accept within the acceptance window.",
    )
    assert OrderEvent.objects.filter(sub_order=sub_order, kind="order.acceptance_expired").count()
    assert Product.objects.get(pk=product.pk).stock == 5
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("voided", 0)
    escrow = balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 0)
    charge = SandboxCardCharge.objects.get(reference=payment.provider_reference)
    assert (charge.status, charge.captured_minor) == ("voided", 0)


def test_rejecting_a_wallet_payment_releases_its_hold_at_the_wallet(key_pool):
    seller = make_seller(key_pool)
    buyer = make_buyer()
    product = make_product(seller, price=3000, stock=1)
    order = place_order(buyer, [(product, 1)])
    payment = pay_by_wallet(order, buyer)
    sub_order = sub_order_of(order, seller)
    with pytest.raises(ApplicationError) as caught:
        sub_order_reject(sub_order_id=sub_order.pk, seller=seller, reason="  ", actor="s")
    assert caught.value.field == "reason"
    sub_order_reject(sub_order_id=sub_order.pk, seller=seller, reason="Discontinued", actor="s")
    payment.refresh_from_db()
    assert payment.status == "voided"
    assert SandboxWalletTrade.objects.get(trade_no=payment.provider_reference).status == (
        "TRADE_CLOSED"
    )
    assert Product.objects.get(pk=product.pk).stock == 1
    assert OrderEvent.objects.get(sub_order=sub_order, kind="order.rejected").data["reason"] == (
        "Discontinued"
    )


def test_rejecting_a_captured_bank_transfer_refunds_it(key_pool):
    pytest.importorskip("payments.fulfilment.refunds")
    seller = make_seller(key_pool)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=4000, stock=1), 1)])
    pay_by_bank_transfer(order, buyer)
    sub_order = sub_order_of(order, seller)
    assert sub_order.captured_minor == 4000
    sub_order_reject(sub_order_id=sub_order.pk, seller=seller, reason="Cannot ship", actor="s")
    assert OrderEvent.objects.filter(order=order, kind__startswith="refund.").exists()


def test_two_sellers_capture_their_own_parts(key_pool):
    first, second = make_seller(key_pool), make_seller(key_pool)
    buyer = make_buyer()
    order = place_order(
        buyer, [(make_product(first, price=1500), 1), (make_product(second, price=2500), 1)]
    )
    payment = pay_by_card(order, buyer)
    one, two = sub_order_of(order, first), sub_order_of(order, second)
    escrow = balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted) == (4000, 0)

    sub_order_accept_with_password(sub_order_id=one.pk, seller=first, password=PASSWORD, actor="a")
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("authorized", 1500)
    escrow, external = balance("platform:escrow"), balance("external:sandbox_card")
    assert (escrow.credits_pending, escrow.credits_posted) == (2500, 1500)
    assert (external.debits_pending, external.debits_posted) == (2500, 1500)
    charge = SandboxCardCharge.objects.get(reference=payment.provider_reference)
    assert (charge.status, charge.captured_minor) == ("authorized", 1500)

    sub_order_accept_with_password(sub_order_id=two.pk, seller=second, password=PASSWORD, actor="b")
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", 4000)
    escrow, external = balance("platform:escrow"), balance("external:sandbox_card")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 4000)
    assert (external.debits_pending, external.debits_posted) == (0, 4000)
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.captured_minor, two.captured_minor) == (1500, 2500)
    charge.refresh_from_db()
    assert (charge.status, charge.captured_minor) == ("captured", 4000)
    # Staff capture/void of the whole payment is refused once sellers settle it part by part.
    assert Transfer.objects.filter(reason="payment_captured").count() == 2


def test_one_seller_accepts_the_other_rejects(key_pool):
    first, second = make_seller(key_pool), make_seller(key_pool)
    buyer = make_buyer()
    kept, returned = make_product(first, price=1500), make_product(second, price=2500, stock=4)
    order = place_order(buyer, [(kept, 1), (returned, 2)])
    payment = pay_by_card(order, buyer)
    one, two = sub_order_of(order, first), sub_order_of(order, second)
    sub_order_reject(sub_order_id=two.pk, seller=second, reason="Sold out", actor="b")
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("authorized", 0)
    assert Product.objects.get(pk=returned.pk).stock == 4
    assert Order.objects.get(pk=order.pk).status == "paid"  # one seller is still in
    sub_order_accept_with_password(sub_order_id=one.pk, seller=first, password=PASSWORD, actor="a")
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", 1500)
    escrow, external = balance("platform:escrow"), balance("external:sandbox_card")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 1500)
    assert (external.debits_pending, external.debits_posted) == (0, 1500)
    charge = SandboxCardCharge.objects.get(reference=payment.provider_reference)
    assert (charge.status, charge.captured_minor) == ("captured", 1500)


def test_a_provider_failure_leaves_the_acceptance_and_the_sweeper_captures(key_pool, monkeypatch):
    from payments.flows.sub_order_money import sub_order_holds_settle
    from payments.providers.base import ProviderUnavailable
    from payments.providers.sandbox_card import SandboxCardProvider

    seller, _keys, _order, payment, sub_order, _ = one_seller_card_order(key_pool)

    def down(self, **kwargs):
        raise ProviderUnavailable("processor down")

    with monkeypatch.context() as patch:
        patch.setattr(SandboxCardProvider, "capture_part", down)
        accepted = sub_order_accept_with_password(
            sub_order_id=sub_order.pk, seller=seller, password=PASSWORD, actor="s"
        )
    assert (accepted.status, accepted.captured_minor) == ("accepted", 0)
    assert sub_order_holds_settle() == {"captured": 1, "released": 0, "failed": 0}
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", 2500)
    assert sub_order_holds_settle() == {"captured": 0, "released": 0, "failed": 0}


def test_ship_after_accept(key_pool):
    seller, _keys, _order, _payment, sub_order, _ = one_seller_card_order(key_pool)
    with pytest.raises(ApplicationError) as caught:
        sub_order_mark_shipped(sub_order_id=sub_order.pk, seller=seller, actor="s")
    assert caught.value.code == "not_accepted"
    sub_order_accept_with_password(
        sub_order_id=sub_order.pk, seller=seller, password=PASSWORD, actor="s"
    )
    shipped = sub_order_mark_shipped(
        sub_order_id=sub_order.pk, seller=seller, actor="s", tracking="DHL 123"
    )
    assert shipped.status == "shipped"
    assert timedelta(days=9) < shipped.confirm_by - shipped.shipped_at <= timedelta(days=10)
    event = OrderEvent.objects.get(sub_order=sub_order, kind="order.shipped")
    assert event.data["tracking"] == "DHL 123"
    with pytest.raises(ApplicationError) as caught:
        sub_order_mark_shipped(sub_order_id=sub_order.pk, seller=seller, actor="s")
    assert caught.value.code == "already_shipped"


def test_staff_cannot_capture_the_whole_payment_once_a_seller_captured_a_part(key_pool):
    from payments.flows.capture import payment_capture, payment_void

    first, second = make_seller(key_pool), make_seller(key_pool)
    buyer = make_buyer()
    order = place_order(
        buyer, [(make_product(first, price=1500), 1), (make_product(second, price=2500), 1)]
    )
    payment = pay_by_card(order, buyer)
    sub_order_accept_with_password(
        sub_order_id=sub_order_of(order, first).pk, seller=first, password=PASSWORD, actor="a"
    )
    for action in (payment_capture, payment_void):
        with pytest.raises(ApplicationError) as caught:
            action(payment_id=payment.id, actor="staff:1")
        assert caught.value.code == "settled_per_sub_order"
    assert Payment.objects.get(pk=payment.id).captured_minor == 1500


def test_a_document_waits_for_a_key_and_is_sealed_when_one_appears(key_pool):
    from payments.fulfilment.documents import order_documents_seal_pending
    from payments.fulfilment.tasks import order_documents_sweep

    seller = make_seller(key_pool, dashboard=False)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=500), 1)])
    pay_by_card(order, buyer)
    document = SealedOrderDocument.objects.get(sub_order__order=order)
    assert document.sealed is None and document.seller_key is None
    assert order_documents_sweep()["sealed"] == 0  # still no key
    keys = own_keys(key_pool, seller, encryption=True)
    # The new key's on-commit hook seals it (run here by hand: this test is one transaction).
    assert order_documents_seal_pending(seller_id=seller.pk) == 1
    document.refresh_from_db()
    assert document.seller_key == keys.encryption
    assert (
        crypto.open_sealed(
            keys.encryption_private,
            bytes(document.sealed),
            associated_data=document_associated_data(document.sub_order_id),
        )
        == document.document_bytes
    )
    assert order_documents_sweep()["sealed"] == 0


def test_a_key_revoked_after_the_signature_was_checked_does_not_accept(key_pool, monkeypatch):
    from payments.fulfilment import acceptance as acceptance_services

    seller, keys, _order, payment, sub_order, _ = one_seller_card_order(key_pool)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    signature = sign_b64(keys.signing_private, document, crypto.ED25519)
    verify = acceptance_services._verify

    def verify_then_revoked_meanwhile(key, document, signature):
        verify(key, document, signature)
        seller_key_revoke(key=key)  # another request of the seller's, between check and commit

    monkeypatch.setattr(acceptance_services, "_verify", verify_then_revoked_meanwhile)
    before = snapshot(sub_order)
    with pytest.raises(ApplicationError) as caught:
        sub_order_accept(
            sub_order_id=sub_order.pk,
            seller=seller,
            key_id=str(keys.signing.id),
            signature_b64=signature,
            actor=f"seller:{seller.pk}",
        )
    assert (caught.value.code, caught.value.field) == ("key_revoked", "key_id")
    assert snapshot(sub_order) == before
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("authorized", 0)
