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
