"""Where acceptance (per-seller capture) meets refunds: a two-seller card order whose payment is
still partly authorised can already refund the part that one seller accepted."""

from __future__ import annotations

import pytest

from core.errors import Conflict
from ledger.selectors import trial_balance
from payments.fulfilment.dashboard_acceptance import sub_order_accept_with_password
from payments.fulfilment.refund_outcomes import refund_process
from payments.fulfilment.refunds import refund_create
from payments.fulfilment.rejection import sub_order_reject
from payments.providers.models import SandboxCardCharge
from tests.lifecycle.accept_fixtures import (
    PASSWORD,
    balance,
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    make_seller,
    pay_by_card,
    place_order,
    sub_order_of,
)

pytestmark = pytest.mark.django_db


def test_a_part_accepted_while_the_other_seller_waits_can_be_refunded(key_pool):
    first, second = make_seller(key_pool), make_seller(key_pool)
    buyer = make_buyer()
    mug, lamp = make_product(first, price=1500), make_product(second, price=2500)
    order = place_order(buyer, [(mug, 1), (lamp, 1)])
    payment = pay_by_card(order, buyer)
    one, two = sub_order_of(order, first), sub_order_of(order, second)

    # The second seller has not answered: nothing of theirs can be refunded yet.
    with pytest.raises(Conflict) as caught:
        refund_create(sub_order_id=two.pk, amount_minor=100, reason="x", actor="staff:1")
    assert caught.value.code == "nothing_captured"

    sub_order_accept_with_password(sub_order_id=one.pk, seller=first, password=PASSWORD, actor="a")
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("authorized", 1500)

    refund = refund_create(sub_order_id=one.pk, amount_minor=600, reason="Chipped", actor="a")
    refund = refund_process(refund_id=refund.pk)
    assert refund.status == "succeeded"
    charge = SandboxCardCharge.objects.get(reference=payment.provider_reference)
    assert (charge.status, charge.captured_minor, charge.refunded_minor) == (
        "authorized",
        1500,
        600,
    )
    escrow = balance("platform:escrow")
    # 1500 captured, 600 of it refunded from escrow; 2500 still held for the second seller.
    assert escrow.credits_posted - escrow.debits_posted == 900
    assert escrow.credits_pending == 2500

    sub_order_reject(sub_order_id=two.pk, seller=second, reason="Sold out", actor="b")
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", 1500)
    escrow = balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted - escrow.debits_posted) == (0, 900)
    assert all(t.net_posted == 0 and t.net_pending == 0 for t in trial_balance().values())


def test_the_order_completes_when_every_seller_part_has_ended(key_pool):
    from payments.models import Order
    from settlement.release.services import sub_order_confirm

    first, second = make_seller(key_pool), make_seller(key_pool)
    buyer = make_buyer()
    mug, lamp = make_product(first, price=1500), make_product(second, price=2500)
    order = place_order(buyer, [(mug, 1), (lamp, 1)])
    pay_by_card(order, buyer)
    one, two = sub_order_of(order, first), sub_order_of(order, second)
    sub_order_accept_with_password(sub_order_id=one.pk, seller=first, password=PASSWORD, actor="a")
    sub_order_confirm(sub_order_id=one.pk, buyer=buyer, actor=f"buyer:{buyer.pk}")
    # The second seller has still to answer: the order is paid, not complete.
    assert Order.objects.get(pk=order.pk).status == "paid"

    sub_order_reject(sub_order_id=two.pk, seller=second, reason="Sold out", actor="b")
    assert Order.objects.get(pk=order.pk).status == "completed"


def test_the_seller_timeline_is_in_words_with_who_did_it(key_pool, client):
    from django.urls import reverse

    seller = make_seller(key_pool)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=1500), 1)])
    pay_by_card(order, buyer)
    sub_order = sub_order_of(order, seller)
    sub_order_accept_with_password(
        sub_order_id=sub_order.pk, seller=seller, password=PASSWORD, actor=f"seller:{seller.pk}"
    )
    client.force_login(seller)

    page = client.get(reverse("payments:seller_order", args=[sub_order.pk])).content.decode()

    assert 'Order sent to the seller <span class="muted">(Clearhouse)</span>' in page
    assert 'Accepted by seller <span class="muted">(You)</span>' in page
    assert "order.accepted" not in page  # no raw event codes for people
