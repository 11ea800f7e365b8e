"""Confirm receipt and auto-confirm: escrow to the seller's pending balance less the fee, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from core.errors import Conflict, NotFound
from ledger.models import Transfer
from payments.models import SubOrder
from payments.orders.models import OrderEvent
from settlement.fees import UnknownFeePlan
from settlement.release.services import (
    release_transfer_id,
    sub_order_auto_confirm_due,
    sub_order_confirm,
)
from settlement.release.tasks import auto_confirm_due
from tests.lifecycle.release_fixtures import *  # noqa: F403
from tests.lifecycle.release_fixtures import (
    assert_trial_balance_zero,
    balance,
    make_seller,
    paid_order,
    reload,
)

pytestmark = pytest.mark.django_db


def test_confirm_releases_escrow_to_the_seller_less_the_fee(buyer):
    seller = make_seller("standard")
    _order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller], amounts=(10000,))
    assert balance("platform:escrow") == 10000

    sub = sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor=f"buyer:{buyer.pk}")

    assert sub.status == "confirmed"
    assert sub.confirmed_at is not None
    assert sub.fee_minor == 290
    assert balance("platform:escrow") == 0
    assert balance(f"seller:{seller.pk}:pending") == 9710
    assert balance("platform:fees") == 290
    assert_trial_balance_zero()
    kinds = list(OrderEvent.objects.filter(sub_order=sub).values_list("kind", "actor"))
    assert ("order.confirmed", f"buyer:{buyer.pk}") in kinds
    assert ("order.released", f"buyer:{buyer.pk}") in kinds
    # One linked batch of two transfers with ids derived from the sub-order.
    net = Transfer.objects.get(id=release_transfer_id(sub.pk, "release:net"))
    fee = Transfer.objects.get(id=release_transfer_id(sub.pk, "release:fee"))
    assert (net.amount_minor, fee.amount_minor) == (9710, 290)
    assert net.batch_id is not None and net.batch_id == fee.batch_id


def test_confirming_again_writes_nothing(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="buyer:1")
    transfers, events = Transfer.objects.count(), OrderEvent.objects.count()
    again = sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="buyer:1")
    assert again.status == "confirmed"
    assert (Transfer.objects.count(), OrderEvent.objects.count()) == (transfers, events)


def test_buyer_may_confirm_an_accepted_order_before_shipping(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer, status="accepted")
    assert sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b").status == "confirmed"


def test_confirm_before_acceptance_is_refused_and_changes_nothing(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer, status="awaiting_acceptance")
    transfers = Transfer.objects.count()
    with pytest.raises(Conflict) as caught:
        sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")
    assert caught.value.code == "not_accepted"
    assert reload(sub).status == "awaiting_acceptance"
    assert Transfer.objects.count() == transfers
    assert balance("platform:escrow") == 10000


def test_buyer_b_cannot_confirm_buyer_as_order(buyer, other_buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    with pytest.raises(NotFound):
        sub_order_confirm(sub_order_id=sub.pk, buyer=other_buyer, actor="b")
    assert reload(sub).status == "shipped"


def test_multi_seller_order_releases_each_part_separately(buyer):
    zero, std = make_seller("zero"), make_seller("standard")
    _order, _payment, [a, b] = paid_order(buyer=buyer, sellers=[zero, std], amounts=(1500, 2500))
    sub_order_confirm(sub_order_id=a.pk, buyer=buyer, actor="b")
    assert balance(f"seller:{zero.pk}:pending") == 1500
    assert balance("platform:fees") == 0
    assert balance("platform:escrow") == 2500
    sub_order_confirm(sub_order_id=b.pk, buyer=buyer, actor="b")
    assert balance(f"seller:{std.pk}:pending") == 2500 - 73  # 72.5 -> 73
    assert balance("platform:fees") == 73
    assert balance("platform:escrow") == 0
    assert_trial_balance_zero()


def test_jpy_release(buyer):
    seller = make_seller("standard", currency="JPY")
    _order, _payment, [sub] = paid_order(
        buyer=buyer, sellers=[seller], amounts=(1050,), currency="JPY"
    )
    sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")
    assert balance(f"seller:{seller.pk}:pending", "JPY") == 1020
    assert balance("platform:fees", "JPY") == 30


def test_unknown_fee_plan_releases_nothing(buyer):
    seller = make_seller("platinum")
    _order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller])
    with pytest.raises(UnknownFeePlan):
        sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")
    assert reload(sub).status == "shipped"
    assert balance("platform:escrow") == 10000


def test_auto_confirm_after_the_window_and_not_before(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer, confirm_in=timedelta(days=10))
    confirm_by = reload(sub).confirm_by
    with freeze_time(confirm_by - timedelta(seconds=1)):
        assert sub_order_auto_confirm_due()["confirmed"] == 0
    assert reload(sub).status == "shipped"
    with freeze_time(confirm_by + timedelta(seconds=1)):
        assert auto_confirm_due() == {"confirmed": 1, "skipped": 0, "failed": 0}
    sub = reload(sub)
    assert sub.status == "confirmed"
    assert sub.fee_minor == 290
    assert balance("platform:escrow") == 0
    assert OrderEvent.objects.filter(sub_order=sub, kind="order.auto_confirmed", actor="system")
    with freeze_time(confirm_by + timedelta(days=1)):  # a second run finds nothing to do
        assert sub_order_auto_confirm_due()["confirmed"] == 0
    assert_trial_balance_zero()


def test_a_replayed_release_writes_no_new_transfers(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer, confirm_in=timedelta(days=1))
    sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")
    transfers = Transfer.objects.count()
    # Pretend the confirmation was lost after the ledger write (e.g. restored row): the release
    # runs again under auto-confirm and the ledger answers with the stored transfers.
    SubOrder.objects.filter(pk=sub.pk).update(status="shipped")
    counts = sub_order_auto_confirm_due(now=timezone.now() + timedelta(days=2))
    assert counts["confirmed"] == 1
    assert Transfer.objects.count() == transfers
    assert balance("platform:escrow") == 0
    assert balance("platform:fees") == 290
    assert_trial_balance_zero()
