"""What the lifecycle model (test_lifecycle_model.py) found that issue 13 did not list, each as a
focused regression test."""

from __future__ import annotations

import pytest

from payments.flows.expiry import payments_recover_stale
from payments.flows.start import payment_start
from payments.models import Payment
from payments.providers.models import SandboxCardCharge
from tests.lifecycle import lifecycle_model as m
from tests.lifecycle.lifecycle_fixtures import card
from tests.lifecycle.release_fixtures import refund_tasks  # noqa: F401  (the fixture)
from tests.payments.pay_factories import make_order

pytestmark = pytest.mark.django_db


def test_a_card_authorised_whose_every_answer_was_lost_is_not_reported_failed(buyer, monkeypatch):
    """The processor authorises, but its answer never comes back (three timeouts under the same
    idempotency key). The buyer was told "nothing was charged" and the payment failed while the
    card stayed held: nothing would ever release it. The authorisation is found and applied."""
    m.install_faulty_providers(monkeypatch)
    m.FaultyProvider.mode = m.LOST
    order = make_order(buyer=buyer)

    payment = payment_start(order=order, method="card", card=card(), actor="buyer:1").payment

    charge = SandboxCardCharge.objects.get(idempotency_key=f"payment:{payment.id}:authorize")
    assert charge.status == "authorized"  # the far side did act
    payment.refresh_from_db()
    assert payment.status == "authorized", (payment.status, payment.failure_code)


def test_a_sale_whose_every_answer_was_lost_is_captured_not_failed(buyer, monkeypatch):
    """The same with automatic capture (a sale): the money was taken at the processor."""
    m.install_faulty_providers(monkeypatch)
    m.FaultyProvider.mode = m.LOST
    order = make_order(buyer=buyer)

    payment = payment_start(
        order=order, method="card", card=card(), actor="buyer:1", capture_method="automatic"
    ).payment

    charge = SandboxCardCharge.objects.get(idempotency_key=f"payment:{payment.id}:authorize")
    assert charge.status == "captured"
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", charge.captured_minor)


def test_an_authorisation_that_reached_no_processor_still_fails(buyer, monkeypatch):
    """Down: nothing reached the processor, so "nothing was charged" is true."""
    m.install_faulty_providers(monkeypatch)
    m.FaultyProvider.mode = m.DOWN
    order = make_order(buyer=buyer)

    payment = payment_start(order=order, method="card", card=card(), actor="buyer:1").payment

    assert not SandboxCardCharge.objects.exists()
    assert (payment.status, payment.failure_code) == ("failed", "provider_unavailable")
    assert payments_recover_stale() == 0
    assert Payment.objects.get(pk=payment.pk).status == "failed"


def test_a_declined_part_whose_refund_failed_is_refunded_again(buyer, refund_tasks):  # noqa: F811
    """Found by the model (seed 13, after issue 13's fixes): a seller rejects a part that was
    captured (here a bank transfer); its refund fails at the provider, the money goes back to
    escrow, and the sub-order is rejected (final). The sweep that gives back declined captured
    parts skipped it for good ("a refund was made"): the money stayed in escrow forever."""
    from payments.fulfilment.refund_outcomes import refund_mark_failed
    from payments.fulfilment.refunds import refund_declined_captured_due
    from payments.fulfilment.rejection import sub_order_reject
    from payments.models import Refund
    from tests.lifecycle.release_fixtures import paid_order

    _order, _payment, [sub, _other] = paid_order(
        buyer=buyer, amounts=(2500, 1000), method="bank_transfer", status="accepted"
    )
    sub.status, sub.accepted_at = "awaiting_acceptance", None
    sub.save(update_fields=["status", "accepted_at"])
    sub_order_reject(sub_order_id=sub.pk, seller=sub.seller, reason="Sold out", actor="seller")
    first = Refund.objects.get(sub_order=sub)
    refund_mark_failed(refund_id=first.pk, code="declined")

    assert refund_declined_captured_due() == 1
    again = Refund.objects.filter(sub_order=sub).exclude(pk=first.pk).get()
    assert (again.status, again.amount_minor) == ("pending", 2500)
    assert refund_declined_captured_due() == 0  # pending: not made twice


def test_a_lost_answer_to_a_whole_capture_does_not_take_a_declined_part_unrecorded(
    buyer, monkeypatch
):
    """Found by the model (seed 13): the automatic capture takes the whole payment at the
    processor but its answer is lost; meanwhile a seller rejects (its release at the processor
    fails: the charge is captured). The retry asked for the accepted part only, the processor
    answered the repeated key with its first answer (all of it), and the ledger recorded only the
    part asked for: the rejected part's money was taken, missing from the ledger, never refunded.
    What the processor took is recorded, and the declined part is refunded."""
    from payments.flows.capture import payment_capture
    from payments.fulfilment.refunds import refund_declined_captured_due
    from payments.fulfilment.rejection import sub_order_reject
    from payments.models import Refund, SubOrder
    from tests.lifecycle.lifecycle_fixtures import pay_by_card
    from tests.lifecycle.release_fixtures import assert_trial_balance_zero, make_seller

    m.install_faulty_providers(monkeypatch)
    order = make_order(buyer=buyer, sellers=[make_seller(), make_seller()], amounts=(2500, 1000))
    payment = pay_by_card(order)
    _kept, declined = SubOrder.objects.filter(order=order).order_by("id")

    m.FaultyProvider.mode = m.LOST
    with pytest.raises(m.ProviderUnavailable):
        payment_capture(payment_id=payment.id, actor="system")
    m.FaultyProvider.mode = m.HEALTHY
    sub_order_reject(
        sub_order_id=declined.pk, seller=declined.seller, reason="Sold out", actor="seller"
    )
    payment_capture(payment_id=payment.id, actor="system")  # the task's retry

    charge = SandboxCardCharge.objects.get(reference=payment.provider_reference)
    payment.refresh_from_db()
    declined.refresh_from_db()
    assert charge.captured_minor == 3500
    assert (payment.status, payment.captured_minor) == ("captured", charge.captured_minor)
    assert (declined.status, declined.captured_minor) == ("rejected", 1000)
    assert_trial_balance_zero()
    assert refund_declined_captured_due() == 1
    refund = Refund.objects.get(sub_order=declined)
    assert (refund.status, refund.amount_minor) == ("pending", 1000)
