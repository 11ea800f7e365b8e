"""What the accept, release and webhooks tests all build the same way: buyers, a sub-order looked
up by seller, a logged-in client, and an order paid through the real payment services (card,
sandbox wallet, bank transfer). The buyer/other_buyer/staff fixtures come from
tests/payments/pay_fixtures.py through tests/lifecycle/conftest.py.

A test runs in one transaction that never commits, so the dispatch task that paying publishes on
commit (which seals the order's documents) never runs: the pay_by_* helpers seal as a worker would
right after the payment (`run_sealing_task`). Tests of what happens without it pay through
payment_start themselves."""

from __future__ import annotations

import datetime as dt

from django.test import Client

from accounts.models import Role, User
from payments.flows.bank_arrivals import bank_transfer_record_arrival
from payments.flows.notifications import notification_receive
from payments.flows.start import payment_start
from payments.models import Order, Payment, SubOrder
from payments.providers import sandbox_wallet
from payments.providers.models import SandboxWalletTrade
from payments.vault.cards import CardInput, validate_card
from tests.payments.pay_factories import make_user
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC


def make_buyer() -> User:
    return make_user(Role.BUYER)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sub_order_of(order: Order, seller: User) -> SubOrder:
    return order.sub_orders.get(seller=seller)


def card() -> CardInput:
    """The sandbox's always-authorised test card (held in memory only, as checkout does)."""
    return validate_card(
        number=SUCCESS, exp_month=12, exp_year=2030, cvc=TEST_CVC, today=dt.date(2026, 1, 1)
    )


def run_sealing_task(order: Order) -> int:
    """What the worker's dispatch of the order.paid events does first: make and seal the order's
    documents (the payments.seal_order_documents task's work)."""
    from payments.fulfilment.tasks import seal_order_documents

    return seal_order_documents(str(order.pk))


def _actor(order: Order, buyer: User | None) -> str:
    return f"buyer:{buyer.pk if buyer else order.buyer_id}"


def pay_by_card(order: Order, buyer: User | None = None) -> Payment:
    """Authorised, not captured (acceptance captures). The order's documents exist on return."""
    payment = payment_start(
        order=order, method="card", card=card(), actor=_actor(order, buyer)
    ).payment
    assert payment.status == "authorized", payment.failure_code
    run_sealing_task(order)
    return payment


def pay_by_wallet(order: Order, buyer: User | None = None) -> Payment:
    """The buyer approves in the sandbox Alipay and its signed notification is applied:
    authorised, not captured."""
    payment = payment_start(
        order=order, method="wallet", wallet="alipay", actor=_actor(order, buyer)
    ).payment
    trade = SandboxWalletTrade.objects.get(out_trade_no=str(payment.id))
    notice = sandbox_wallet.wallets["alipay"].buyer_decide(trade_no=trade.trade_no, approve=True)
    assert notification_receive(provider_name="alipay", params=notice.params).accepted
    payment.refresh_from_db()
    assert payment.status == "authorized", payment.status
    run_sealing_task(order)
    return payment


def pay_by_bank_transfer(order: Order, buyer: User | None = None) -> Payment:
    """The transfer arrives in full: captured at once."""
    payment = payment_start(order=order, method="bank_transfer", actor=_actor(order, buyer)).payment
    bank_transfer_record_arrival(
        reference=payment.bank_reference,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        bank_transaction_id=f"TX-{payment.id}",
        actor="staff:1",
    )
    payment.refresh_from_db()
    assert payment.status == "captured"
    run_sealing_task(order)
    return payment
