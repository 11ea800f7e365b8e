"""Refunds that race: the Payment row lock (then the SubOrder's) serialises them, so the sum of
non-failed refunds never passes what was captured. PostgreSQL (row locks), own connections."""

from __future__ import annotations

import pytest

from payments.fulfilment.models import Refund
from payments.fulfilment.refunds import RefundExceedsCaptured, refund_create
from settlement.release.services import RefundInProgress, sub_order_confirm
from tests.concurrency import run_together
from tests.lifecycle.release_fixtures import *  # noqa: F403
from tests.lifecycle.release_fixtures import (
    assert_trial_balance_zero,
    balance,
    paid_order,
    run_refund_tasks,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_concurrent_refunds_never_exceed_what_was_captured(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(10000,))

    def six_thousand():
        return refund_create(
            sub_order_id=sub.pk, amount_minor=6000, reason="race", actor="seller:1"
        )

    results = run_together(six_thousand, six_thousand)
    assert sum(isinstance(r, Refund) for r in results) == 1, results
    assert sum(isinstance(r, RefundExceedsCaptured) for r in results) == 1, results
    assert Refund.objects.count() == 1
    run_refund_tasks(refund_tasks)
    assert balance("platform:escrow") == 4000
    assert_trial_balance_zero()


def test_many_small_concurrent_refunds_stop_exactly_at_the_captured_amount(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(1000,))

    def three_hundred():
        return refund_create(sub_order_id=sub.pk, amount_minor=300, reason="race", actor="s:1")

    results = run_together(*[three_hundred for _ in range(5)])
    assert sum(isinstance(r, Refund) for r in results) == 3, results
    assert sum(r.amount_minor for r in Refund.objects.all()) == 900


def test_a_refund_racing_the_buyers_confirmation_leaves_escrow_whole(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(10000,))
    results = run_together(
        lambda: refund_create(sub_order_id=sub.pk, amount_minor=2500, reason="r", actor="s:1"),
        lambda: sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b"),
    )
    run_refund_tasks(refund_tasks)
    if isinstance(results[1], RefundInProgress):  # the refund came first: confirm after it
        sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")
    assert not [
        r for r in results if isinstance(r, Exception) and not isinstance(r, RefundInProgress)
    ]
    assert balance("platform:escrow") == 0
    assert_trial_balance_zero()
