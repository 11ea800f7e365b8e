"""Races that only row locks and unique constraints settle, in real threads on PostgreSQL."""

from __future__ import annotations

import pytest

from accounts.models import Role
from core.errors import Conflict
from ledger.models import Transfer
from payments.flows.bank_arrivals import bank_transfer_record_arrival
from payments.flows.models import BankTransferArrival, WalletNotification
from payments.flows.notifications import notification_receive
from payments.flows.start import payment_start
from payments.models import Payment, PaymentEvent
from payments.providers import sandbox_wallet
from payments.providers.models import SandboxWalletTrade
from tests.concurrency import run_together
from tests.payments.pay_factories import make_order, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_payment_starts_on_one_order_make_one_payment():
    order = make_order(buyer=make_user(Role.BUYER))
    results = run_together(
        *[
            lambda: payment_start(order=order, method="bank_transfer", actor="buyer:1")
            for _ in range(2)
        ]
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert Payment.objects.count() == 1


def test_the_same_notification_twice_at_once_applies_once(enqueued):
    order = make_order(buyer=make_user(Role.BUYER))
    payment = payment_start(order=order, method="wallet", wallet="alipay", actor="buyer:1").payment
    trade = SandboxWalletTrade.objects.get()
    trade.status = "TRADE_SUCCESS"
    params = sandbox_wallet.wallets["alipay"].make_notice(trade).params
    results = run_together(
        *[lambda: notification_receive(provider_name="alipay", params=params) for _ in range(3)]
    )
    assert all(r.accepted for r in results), results
    assert Payment.objects.get(pk=payment.id).status == "authorized"
    assert WalletNotification.objects.filter(outcome="applied").count() == 1
    assert Transfer.objects.filter(kind="pending").count() == 2  # one hold per sub-order
    assert PaymentEvent.objects.filter(payment=payment, to_status="authorized").count() == 1


def test_the_same_bank_credit_twice_at_once_is_recorded_once():
    order = make_order(buyer=make_user(Role.BUYER))
    payment = payment_start(order=order, method="bank_transfer", actor="buyer:1").payment

    def arrive():
        return bank_transfer_record_arrival(
            reference=payment.bank_reference,
            amount_minor=4000,
            currency="EUR",
            bank_transaction_id="TX-RACE",
            actor="staff:1",
        )

    results = run_together(arrive, arrive)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.duplicate for r in results) == [False, True]
    assert BankTransferArrival.objects.count() == 1
    assert Payment.objects.get(pk=payment.id).status == "captured"
    assert Transfer.objects.filter(reason="bank_transfer_received").count() == 1
