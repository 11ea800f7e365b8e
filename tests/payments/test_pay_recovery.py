"""A process that dies between the provider's answer and applying it: the idempotency key makes
the recovery find the first authorisation instead of making a second."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.selectors import account_balance, account_by_code
from payments.flows import authorize
from payments.flows.expiry import payments_expire_due, payments_recover_stale
from payments.flows.start import payment_start
from payments.models import Payment
from payments.providers.models import SandboxCardCharge, SandboxWalletTrade
from payments.vault.cards import validate_card
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC

pytestmark = pytest.mark.django_db


class Crash(Exception):
    pass


def card(number=SUCCESS):
    return validate_card(
        number=number, exp_month=12, exp_year=2030, cvc=TEST_CVC, today=dt.date(2026, 1, 1)
    )


def crash_after_provider(monkeypatch):
    def die(**kwargs):
        raise Crash

    monkeypatch.setattr(authorize, "apply_authorize_result", die)


def test_recovery_after_a_crash_finds_the_authorisation_and_holds_once(order, monkeypatch):
    crash_after_provider(monkeypatch)
    with pytest.raises(Crash):
        payment_start(order=order, method="card", actor="buyer:1", card=card())
    monkeypatch.undo()
    payment = Payment.objects.get()
    assert payment.status == "created"
    assert SandboxCardCharge.objects.get().status == "authorized"

    assert payments_recover_stale(now=timezone.now()) == 0  # too fresh: may still be in flight
    later = timezone.now() + timedelta(minutes=11)
    assert payments_expire_due(now=later)["recovered"] == 1
    payment.refresh_from_db()
    assert payment.status == "authorized"
    assert payment.provider_reference == SandboxCardCharge.objects.get().reference
    assert SandboxCardCharge.objects.count() == 1
    escrow = account_balance(account_by_code(currency="EUR", code="platform:escrow").id)
    assert escrow.credits_pending == 4000
    assert payments_recover_stale(now=later) == 0


def test_recovery_when_the_processor_never_saw_the_call_fails_it_uncharged(order, monkeypatch):
    from payments.providers import sandbox_card

    def unreachable(**kwargs):
        raise Crash

    monkeypatch.setattr(sandbox_card.processor, "create_charge", unreachable)
    with pytest.raises(Crash):
        payment_start(order=order, method="card", actor="buyer:1", card=card())
    monkeypatch.undo()
    assert payments_recover_stale(now=timezone.now() + timedelta(minutes=11)) == 1
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code) == ("failed", "processing_error")
    assert SandboxCardCharge.objects.count() == 0


def test_wallet_recovery_asks_again_with_the_same_key(order, monkeypatch, enqueued):
    crash_after_provider(monkeypatch)
    with pytest.raises(Crash):
        payment_start(order=order, method="wallet", wallet="wechat", actor="buyer:1")
    monkeypatch.undo()
    assert payments_recover_stale(now=timezone.now() + timedelta(minutes=11)) == 1
    payment = Payment.objects.get()
    assert payment.status == "requires_action"
    assert SandboxWalletTrade.objects.count() == 1
    assert payment.provider_reference == SandboxWalletTrade.objects.get().trade_no


def test_same_key_twice_reaches_the_processor_once(order):
    start = payment_start(order=order, method="card", actor="buyer:1", card=card())
    payment = start.payment
    again = authorize.authorize_with_retries(
        payment_id=payment.id, request=authorize.authorize_request(payment, cvc=TEST_CVC)
    )
    assert again.reference == payment.provider_reference
    assert SandboxCardCharge.objects.get().attempts == 1
