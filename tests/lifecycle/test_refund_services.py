"""Refunds: partial sequences before and after release with exact balances, the cap, failures,
the sweeper, bank transfers and card holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict, ValidationError
from ledger.models import Transfer
from payments.fulfilment.models import Refund
from payments.fulfilment.refund_outcomes import refund_process, refunds_redrive_pending
from payments.fulfilment.refunds import (
    RefundExceedsCaptured,
    refund_create,
    refund_sub_order_remaining,
)
from payments.orders.models import OrderEvent
from payments.providers.base import ProviderError, ProviderUnavailable
from payments.providers.registry import get_provider
from settlement.release.services import RefundInProgress, sub_order_confirm
from tests.lifecycle.release_fixtures import *  # noqa: F403
from tests.lifecycle.release_fixtures import (
    assert_trial_balance_zero,
    balance,
    make_seller,
    paid_order,
    pending_debits,
    reload,
    run_refund_tasks,
)

pytestmark = pytest.mark.django_db


def refund(sub, amount, **kwargs):
    return refund_create(
        sub_order_id=sub.pk, amount_minor=amount, reason="broken lid", actor="seller:1", **kwargs
    )


def test_partial_refunds_before_release_then_release_the_rest(buyer, refund_tasks):
    seller = make_seller("standard")
    _order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller], amounts=(10000,))

    first = refund(sub, 3000)
    assert first.status == "pending" and first.source == "escrow"
    assert pending_debits("platform:escrow") == 3000  # reserved, not yet paid
    assert refund_tasks == [str(first.pk)]
    run_refund_tasks(refund_tasks)
    assert reload(first).status == "succeeded"
    assert balance("platform:escrow") == 7000
    assert pending_debits("platform:escrow") == 0

    refund(sub, 2000)
    run_refund_tasks(refund_tasks)
    assert balance("platform:escrow") == 5000
    assert reload(sub).status == "shipped"  # partly refunded only

    sub = sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")
    assert sub.fee_minor == 145  # 2.9 % of the 5000 released
    assert balance("platform:escrow") == 0
    assert balance(f"seller:{seller.pk}:pending") == 4855
    assert balance("platform:fees") == 145
    assert_trial_balance_zero()
    kinds = list(OrderEvent.objects.filter(sub_order=sub).values_list("kind", flat=True))
    assert kinds.count("refund.created") == 2 and kinds.count("refund.succeeded") == 2


def test_refunds_after_release_come_from_the_sellers_balance(buyer, refund_tasks):
    seller = make_seller("standard")
    _order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller], amounts=(10000,))
    sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")

    partial = refund(sub, 2000)
    assert partial.source == "seller_balance"
    run_refund_tasks(refund_tasks)
    # The released net waits in pending for its hold; the refund is taken from available.
    assert balance(f"seller:{seller.pk}:pending") == 9710
    assert balance(f"seller:{seller.pk}:available") == -2000
    assert balance("platform:fees") == 290  # the platform keeps its fee
    assert reload(sub).status == "confirmed"

    rest = refund(sub, 8000)
    run_refund_tasks(refund_tasks)
    assert reload(rest).status == "succeeded"
    # The seller's balance goes short by the fee kept; later settlements recover it.
    assert balance(f"seller:{seller.pk}:pending") == 9710
    assert balance(f"seller:{seller.pk}:available") == -10000
    assert reload(sub).status == "refunded"
    assert_trial_balance_zero()


def test_full_refund_before_release_makes_the_sub_order_refunded(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(10000,), status="accepted")
    refund(sub, 10000)
    run_refund_tasks(refund_tasks)
    assert reload(sub).status == "refunded"
    assert balance("platform:escrow") == 0
    assert balance("external:sandbox_card") == 0  # the card got it all back
    assert OrderEvent.objects.filter(sub_order=sub, kind="refund.succeeded").count() == 1


def test_more_than_remains_is_refused_and_nothing_is_written(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(10000,))
    refund(sub, 6000)  # pending: reserved
    counts = (Refund.objects.count(), Transfer.objects.count(), OrderEvent.objects.count())
    with pytest.raises(RefundExceedsCaptured) as caught:
        refund(sub, 4001)
    assert caught.value.field == "amount_minor"
    assert caught.value.extra == {"refundable_minor": 4000}
    assert (Refund.objects.count(), Transfer.objects.count(), OrderEvent.objects.count()) == counts
    assert refund(sub, 4000).amount_minor == 4000


@pytest.mark.parametrize("amount", [0, -5, 1.5, "100", True])
def test_bad_amounts_are_refused(buyer, amount):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    with pytest.raises(ValidationError):
        refund(sub, amount)
    assert not Refund.objects.exists()


def test_reason_is_required(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    with pytest.raises(ValidationError) as caught:
        refund_create(sub_order_id=sub.pk, amount_minor=100, reason="  ", actor="seller:1")
    assert caught.value.field == "reason"


def test_idempotency_key_answers_with_the_first_refund(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    first = refund(sub, 1000, idempotency_key="k-1")
    assert refund(sub, 1000, idempotency_key="k-1") == first
    with pytest.raises(Conflict):
        refund(sub, 2000, idempotency_key="k-1")
    assert Refund.objects.count() == 1


def test_provider_failure_fails_the_refund_and_frees_the_amount(buyer, refund_tasks, monkeypatch):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    provider = get_provider("sandbox_card")
    real = provider.refund

    def refuse(**kwargs):
        raise ProviderError("Card account closed.", code="account_closed")

    monkeypatch.setattr(provider, "refund", refuse)
    failed = refund(sub, 10000)
    run_refund_tasks(refund_tasks)
    failed = reload(failed)
    assert (failed.status, failed.failure_code) == ("failed", "account_closed")
    assert balance("platform:escrow") == 10000 and pending_debits("platform:escrow") == 0
    assert reload(sub).status == "shipped"
    assert OrderEvent.objects.filter(sub_order=sub, kind="refund.failed").exists()
    monkeypatch.setattr(provider, "refund", real)
    again = refund(sub, 10000)  # the reservation was released
    run_refund_tasks(refund_tasks)
    assert reload(again).status == "succeeded"
    assert_trial_balance_zero()


def test_provider_down_keeps_it_pending_and_the_sweeper_redrives_it(
    buyer, refund_tasks, monkeypatch
):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    provider = get_provider("sandbox_card")
    real = provider.refund

    def down(**kwargs):
        raise ProviderUnavailable("timeout")

    monkeypatch.setattr(provider, "refund", down)
    pending = refund(sub, 500)
    refund_tasks.clear()
    with pytest.raises(ProviderUnavailable):
        refund_process(refund_id=pending.pk)
    assert reload(pending).status == "pending"
    assert refunds_redrive_pending() == 0  # not old enough yet
    later = timezone.now() + timedelta(minutes=11)
    assert refunds_redrive_pending(now=later) == 1
    assert refund_tasks == [str(pending.pk)]
    monkeypatch.setattr(provider, "refund", real)
    run_refund_tasks(refund_tasks)
    pending = reload(pending)
    assert (pending.status, pending.attempts) == ("succeeded", 2)
    # A redelivered message for a settled refund does nothing.
    transfers = Transfer.objects.count()
    refund_process(refund_id=pending.pk)
    assert Transfer.objects.count() == transfers


def test_release_waits_for_a_refund_in_flight(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    refund(sub, 1000)
    with pytest.raises(RefundInProgress):
        sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")
    run_refund_tasks(refund_tasks)
    sub = sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")
    assert sub.fee_minor == 261  # 2.9 % of 9000


def test_bank_transfer_refund_is_paid_by_the_sandbox_bank(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer, method="bank_transfer", amounts=(4000,))
    assert balance("platform:escrow") == 4000
    done = refund_sub_order_remaining(sub_order_id=sub.pk, reason="rejected", actor="system")
    run_refund_tasks(refund_tasks)
    done = reload(done)
    assert (done.status, done.amount_minor, done.source) == ("succeeded", 4000, "escrow")
    assert done.provider_reference.startswith("payout-")
    assert balance("platform:escrow") == 0
    assert reload(sub).status == "refunded"
    assert_trial_balance_zero()


def test_refund_remaining_returns_none_when_nothing_is_left(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(10000,))
    refund(sub, 4000)
    rest = refund_sub_order_remaining(sub_order_id=sub.pk, reason="rejected", actor="system")
    assert rest.amount_minor == 6000
    assert refund_sub_order_remaining(sub_order_id=sub.pk, reason="again", actor="system") is None


def test_an_uncaptured_card_hold_is_not_refunded_but_left_to_its_release(buyer):
    """A hold is released at the processor and in the ledger together (sub_order_release), never
    in the ledger alone: a refund of nothing captured changes nothing (issue 13, defect 3)."""
    from payments.flows.start import payment_start
    from tests.lifecycle.release_fixtures import card
    from tests.payments.pay_factories import make_order

    order = make_order(buyer=buyer, amounts=(1500, 2500))
    payment = payment_start(order=order, method="card", card=card(), actor="b").payment
    assert payment.status == "authorized"
    first = order.sub_orders.order_by("id").first()
    assert pending_debits("external:sandbox_card") == 4000
    assert refund_sub_order_remaining(sub_order_id=first.pk, reason="x", actor="system") is None
    assert pending_debits("external:sandbox_card") == 4000
    with pytest.raises(Conflict):  # nothing captured: no money refund possible
        refund(first, 100)


def test_refund_task_is_enqueued_on_commit(buyer, monkeypatch, django_capture_on_commit_callbacks):
    from payments.fulfilment import tasks as fulfilment_tasks

    _order, _payment, [sub] = paid_order(buyer=buyer)
    sent: list[str] = []
    monkeypatch.setattr(fulfilment_tasks.refund_execute, "delay", sent.append)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = refund(sub, 100)
    assert sent == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert str(created.pk) in sent


def test_rejected_bank_transfer_sub_order_is_refunded_and_stays_rejected(buyer, refund_tasks):
    _order, _payment, [a, _b] = paid_order(
        buyer=buyer, method="bank_transfer", amounts=(1500, 2500), status="awaiting_acceptance"
    )
    a.status = "rejected"
    a.save(update_fields=["status"])  # as the accept side's rejection does
    refund = refund_sub_order_remaining(sub_order_id=a.pk, reason="rejected", actor="seller:1")
    run_refund_tasks(refund_tasks)
    assert (reload(refund).status, refund.amount_minor) == ("succeeded", 1500)
    assert reload(a).status == "rejected"  # final: the refund does not move it
    assert balance("platform:escrow") == 2500  # the other seller's part stays held
    assert refund_sub_order_remaining(sub_order_id=a.pk, reason="again", actor="x") is None


def test_wallet_refunds_before_and_after_release(buyer, refund_tasks):
    seller = make_seller("standard")
    _order, _payment, [sub] = paid_order(
        buyer=buyer, sellers=[seller], amounts=(10000,), method="wallet"
    )
    refund(sub, 1000)
    run_refund_tasks(refund_tasks)
    sub_order_confirm(sub_order_id=sub.pk, buyer=buyer, actor="b")
    refund(sub, 9000)
    run_refund_tasks(refund_tasks)
    assert list(Refund.objects.values_list("status", "source").order_by("created_at")) == [
        ("succeeded", "escrow"),
        ("succeeded", "seller_balance"),
    ]
    assert balance("platform:fees") == 261
    assert balance(f"seller:{seller.pk}:pending") == 9000 - 261
    assert balance(f"seller:{seller.pk}:available") == -9000
    assert reload(sub).status == "refunded"
    assert_trial_balance_zero()


def test_confirming_while_a_refund_runs_is_not_kept_by_idempotency(buyer, refund_tasks, client):
    """409 refund_in_progress means "not yet": a retry with the same Idempotency-Key, once the
    refund has settled, confirms instead of replaying the 409 for 24 hours."""
    order, _payment, [sub] = paid_order(buyer=buyer)
    refund(sub, 1000)
    client.force_login(buyer)
    url = f"/api/v1/orders/{order.pk}/sub-orders/{sub.pk}/confirm"

    refused = client.post(url, {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "refund_in_progress"
    assert "Retry-After" in refused

    run_refund_tasks(refund_tasks)
    retried = client.post(url, {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="c-1")

    assert retried.status_code == 200, retried.content
    assert not retried.has_header("Idempotent-Replayed")
    assert reload(sub).status == "confirmed"


def test_refund_idempotency_keys_belong_to_their_caller(buyer, refund_tasks):
    """Staff and the seller using the same key on one payment each get their own refund, never
    each other's (nor a 409 for the other's amount)."""
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(10000,))

    by_seller = refund(sub, 1000, idempotency_key="same-key")
    by_staff = refund_create(
        sub_order_id=sub.pk,
        amount_minor=2000,
        reason="goodwill",
        actor="staff:9",
        idempotency_key="same-key",
    )

    assert by_staff.pk != by_seller.pk
    assert (by_seller.amount_minor, by_staff.amount_minor) == (1000, 2000)
    assert refund(sub, 1000, idempotency_key="same-key") == by_seller  # each caller's retry replays
    assert Refund.objects.filter(sub_order=sub).count() == 2
