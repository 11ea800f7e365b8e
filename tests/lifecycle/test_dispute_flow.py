"""Disputes: opened by the buyer within the window (the clock stops), resolved by staff in the
admin for the buyer (refund) or the seller (release)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import User
from core.errors import Conflict, NotFound, ValidationError
from payments.fulfilment.disputes import dispute_open, dispute_resolve
from payments.fulfilment.models import Dispute
from payments.orders.models import OrderEvent
from settlement.release.services import sub_order_auto_confirm_due, sub_order_confirm
from tests.lifecycle.release_fixtures import *  # noqa: F403
from tests.lifecycle.release_fixtures import (
    assert_trial_balance_zero,
    balance,
    make_seller,
    paid_order,
    reload,
    run_refund_tasks,
)
from tests.two_factor import verify_second_factor

pytestmark = pytest.mark.django_db


def open_dispute(sub, buyer, reason="Arrived broken"):
    return dispute_open(sub_order_id=sub.pk, buyer=buyer, reason=reason, actor=f"buyer:{buyer.pk}")


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("ops@example.test", "a-long-password-1")
    return verify_second_factor(client, user)


def test_opening_a_dispute_stops_the_clock(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer, confirm_in=timedelta(days=10))
    dispute = open_dispute(sub, buyer)
    sub = reload(sub)
    assert (sub.status, sub.confirm_by) == ("disputed", None)
    assert dispute.status == "open"
    assert OrderEvent.objects.filter(sub_order=sub, kind="dispute.opened").exists()
    with freeze_time(timezone.now() + timedelta(days=30)):
        assert sub_order_auto_confirm_due()["confirmed"] == 0
    assert reload(sub).status == "disputed"
    assert balance("platform:escrow") == 10000
    with pytest.raises(Conflict):  # no confirming around a dispute
        sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")


def test_dispute_after_the_window_is_refused(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer, confirm_in=timedelta(days=10))
    later = timezone.now() + timedelta(days=10, seconds=5)
    with freeze_time(later), pytest.raises(Conflict) as caught:
        open_dispute(sub, buyer)
    assert caught.value.code == "dispute_window_closed"
    assert reload(sub).status == "shipped"
    assert not Dispute.objects.exists()


def test_reason_is_required_and_one_dispute_at_a_time(buyer, other_buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    with pytest.raises(ValidationError) as caught:
        open_dispute(sub, buyer, reason="   ")
    assert caught.value.field == "reason"
    with pytest.raises(NotFound):
        open_dispute(sub, other_buyer)
    open_dispute(sub, buyer)
    with pytest.raises(Conflict):
        open_dispute(sub, buyer)
    assert Dispute.objects.count() == 1


def test_dispute_before_acceptance_is_refused(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer, status="awaiting_acceptance")
    with pytest.raises(Conflict):
        open_dispute(sub, buyer)


def test_admin_resolves_for_the_seller(buyer, admin_client):
    seller = make_seller("standard")
    _order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller])
    dispute = open_dispute(sub, buyer)
    response = admin_client.post(
        reverse("admin:payments_dispute_changelist"),
        {"action": "resolve_for_seller", "_selected_action": [dispute.pk]},
    )
    assert response.status_code == 302
    dispute, sub = reload(dispute), reload(sub)
    assert (dispute.status, dispute.outcome) == ("resolved", "seller")
    assert sub.status == "confirmed" and sub.fee_minor == 290
    assert balance(f"seller:{seller.pk}:pending") == 9710
    assert balance("platform:escrow") == 0
    event = OrderEvent.objects.get(sub_order=sub, kind="dispute.resolved")
    assert event.data["outcome"] == "seller" and event.actor.startswith("staff:")
    assert_trial_balance_zero()


def test_admin_resolves_for_the_buyer(
    buyer, admin_client, eager_refunds, django_capture_on_commit_callbacks
):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    dispute = open_dispute(sub, buyer)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:payments_dispute_changelist"),
            {"action": "resolve_for_buyer", "_selected_action": [dispute.pk]},
        )
    assert response.status_code == 302
    dispute, sub = reload(dispute), reload(sub)
    assert (dispute.status, dispute.outcome) == ("resolved", "buyer")
    assert sub.status == "refunded"
    [refund] = sub.refunds.all()
    assert (refund.status, refund.amount_minor, refund.source) == ("succeeded", 10000, "escrow")
    assert balance("platform:escrow") == 0
    assert OrderEvent.objects.get(sub_order=sub, kind="dispute.resolved").data["outcome"] == "buyer"
    assert_trial_balance_zero()


def test_a_resolved_dispute_cannot_be_resolved_again(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    dispute = open_dispute(sub, buyer)
    dispute_resolve(dispute_id=dispute.pk, outcome="buyer", actor="staff:1")
    with pytest.raises(Conflict):
        dispute_resolve(dispute_id=dispute.pk, outcome="seller", actor="staff:1")


def test_admin_lists_refunds_and_disputes_read_only(buyer, admin_client, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    dispute = open_dispute(sub, buyer)
    dispute_resolve(dispute_id=dispute.pk, outcome="buyer", actor="staff:1")
    for name in ("refund", "dispute"):
        assert admin_client.get(reverse(f"admin:payments_{name}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:payments_{name}_add")).status_code == 403
    refund = sub.refunds.get()
    page = admin_client.get(reverse("admin:payments_refund_change", args=[refund.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content


def _refund(sub, amount):
    from payments.fulfilment.refunds import refund_create

    return refund_create(
        sub_order_id=sub.pk, amount_minor=amount, reason="broken lid", actor="seller:1"
    )


def test_resolved_for_the_buyer_while_a_refund_is_pending_waits_for_it(
    buyer, refund_tasks, monkeypatch
):
    """The pending refund reserves everything, then fails at the provider: the money is back in
    escrow, so the sub-order must not be final (refunded) yet. Staff refund it again."""
    from payments.fulfilment.refunds import refund_sub_order_remaining
    from payments.providers.base import ProviderResult
    from payments.providers.registry import get_provider

    _order, payment, [sub] = paid_order(buyer=buyer)
    dispute = open_dispute(sub, buyer)
    pending = _refund(sub, 10000)

    dispute_resolve(dispute_id=dispute.pk, outcome="buyer", actor="staff:1")
    assert reload(sub).status == "disputed"  # waits for the pending refund

    provider = get_provider(payment.provider)
    monkeypatch.setattr(
        provider,
        "refund",
        lambda **_: ProviderResult(status="failed", reference="", failure_code="card_closed"),
    )
    run_refund_tasks(refund_tasks)
    assert reload(pending).status == "failed"
    assert balance("platform:escrow") == 10000
    assert reload(sub).status == "disputed"  # not final with the money in escrow

    monkeypatch.undo()
    refund_tasks.clear()
    monkeypatch.setattr(
        "payments.fulfilment.refunds._enqueue",
        lambda refund_id: refund_tasks.append(str(refund_id)),
    )
    again = refund_sub_order_remaining(sub_order_id=sub.pk, reason="again", actor="staff:1")
    run_refund_tasks(refund_tasks)
    assert reload(again).status == "succeeded"
    assert reload(sub).status == "refunded"
    assert balance("platform:escrow") == 0
    assert_trial_balance_zero()


def test_resolved_for_the_buyer_while_a_refund_is_pending_then_it_succeeds(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    dispute = open_dispute(sub, buyer)
    _refund(sub, 10000)

    dispute_resolve(dispute_id=dispute.pk, outcome="buyer", actor="staff:1")
    run_refund_tasks(refund_tasks)

    assert reload(sub).status == "refunded"
    assert balance("platform:escrow") == 0
    assert_trial_balance_zero()
