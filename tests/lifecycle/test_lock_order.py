"""Issue 13, defect 6: one lock order everywhere (docs/architecture.md, "Lock order"), checked by
the `lock_order` fixture (tests/lock_order.py; every database test of tests/lifecycle,
tests/payments and tests/storefront runs under it, tests/conftest.py) on the paths that take the
most locks, and a wallet notification racing the order's expiry in two threads on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from payments.flows.bank_arrivals import bank_transfer_record_arrival
from payments.flows.models import PaymentStatus
from payments.flows.notifications import notification_receive
from payments.flows.start import payment_start
from payments.flows.state import payment_transition
from payments.fulfilment.dashboard_acceptance import sub_order_accept_with_password
from payments.fulfilment.disputes import dispute_open, dispute_resolve
from payments.fulfilment.rejection import sub_order_reject
from payments.models import Order, Payment, SubOrder
from payments.orders.expiry import order_expire_unpaid
from payments.providers import sandbox_wallet
from payments.providers.models import SandboxWalletTrade
from tests.concurrency import run_together
from tests.lifecycle.accept_fixtures import (
    PASSWORD,
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    pay_by_card,
    pay_by_wallet,
    place_order,
    sub_order_of,
)
from tests.lifecycle.accept_fixtures import (
    make_seller as make_keyed_seller,
)
from tests.lifecycle.release_fixtures import *  # noqa: F403  (refund_tasks)
from tests.lifecycle.release_fixtures import (
    run_refund_tasks,
)
from tests.lock_order import LockOrderChecker, locked_tables
from tests.payments.pay_factories import make_order


def test_the_statements_ranks():
    assert locked_tables(
        'SELECT "payments_suborder"."id" FROM "payments_suborder" INNER JOIN "payments_order" '
        'ON (x) WHERE y FOR UPDATE OF "payments_suborder"'
    ) == ["payments_suborder"]
    assert locked_tables('SELECT * FROM "payments_order" WHERE id = 1 FOR UPDATE') == [
        "payments_order"
    ]
    assert locked_tables('UPDATE "payments_order" SET status = 1') == ["payments_order"]
    assert locked_tables("SELECT * FROM payments_capture(%s::uuid)")[0] == "payments_payment"
    assert locked_tables("SELECT id FROM ledger_transfer FOR UPDATE SKIP LOCKED") == []
    assert locked_tables('SELECT * FROM "payments_order" WHERE id = 1') == []


@pytest.mark.django_db
@pytest.mark.lock_order_violation_expected
def test_the_checker_sees_a_lock_taken_out_of_order():
    order = make_order(buyer=make_buyer())
    connection = connections[DEFAULT_DB_ALIAS]
    checker = LockOrderChecker()
    checker.base_depth[id(connection)] = len(connection.atomic_blocks)
    checker.install(connection)
    try:
        with transaction.atomic():  # in order: fine
            Order.objects.select_for_update().filter(pk=order.pk).first()
            list(SubOrder.objects.select_for_update().filter(order=order))
        assert checker.violations == []
        with transaction.atomic():  # the other way round, in another transaction: caught
            list(SubOrder.objects.select_for_update().filter(order=order))
            Order.objects.filter(pk=order.pk).update(updated_at=timezone.now())
    finally:
        checker.uninstall(connection)
    assert len(checker.violations) == 1
    assert checker.violations[0].startswith("took payments_order while holding payments_suborder")


@pytest.mark.django_db
def test_a_bank_transfer_arriving_in_full_takes_its_locks_in_order(lock_order):
    order = make_order(buyer=make_buyer())
    payment = payment_start(order=order, method="bank_transfer", actor="b").payment
    bank_transfer_record_arrival(
        reference=payment.bank_reference,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        bank_transaction_id="TX-LOCKS",
        actor="staff:1",
    )
    assert Payment.objects.get(pk=payment.pk).status == "captured"


@pytest.mark.django_db
def test_an_authorised_payment_failing_takes_its_locks_in_order(lock_order):
    from tests.lifecycle.lifecycle_fixtures import card

    order = make_order(buyer=make_buyer())
    payment = payment_start(order=order, method="card", card=card(), actor="b").payment
    payment_transition(
        payment_id=payment.id, to_status=PaymentStatus.FAILED, actor="system", reason="test"
    )
    assert Payment.objects.get(pk=payment.pk).status == "failed"


@pytest.mark.django_db
def test_accept_reject_dispute_and_refund_take_their_locks_in_order(
    key_pool, lock_order, refund_tasks
):
    first, second = make_keyed_seller(key_pool), make_keyed_seller(key_pool)
    buyer = make_buyer()
    order = place_order(
        buyer, [(make_product(first, price=1500), 1), (make_product(second, price=2500), 1)]
    )
    pay_by_wallet(order, buyer)
    kept, declined = sub_order_of(order, first), sub_order_of(order, second)
    sub_order_reject(sub_order_id=declined.pk, seller=second, reason="Sold out", actor="s")
    sub_order_accept_with_password(sub_order_id=kept.pk, seller=first, password=PASSWORD, actor="a")
    dispute = dispute_open(sub_order_id=kept.pk, buyer=buyer, reason="Broken", actor="b")
    dispute_resolve(dispute_id=dispute.pk, outcome="buyer", actor="staff:1")
    run_refund_tasks(refund_tasks)
    assert SubOrder.objects.get(pk=kept.pk).status == "refunded"
    assert Order.objects.get(pk=order.pk).status == "completed"


@pytest.mark.django_db
def test_a_card_order_rejected_after_paying_takes_its_locks_in_order(key_pool, lock_order):
    seller = make_keyed_seller(key_pool)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=2000), 1)])
    pay_by_card(order, buyer)
    sub = sub_order_of(order, seller)
    sub_order_reject(sub_order_id=sub.pk, seller=seller, reason="No", actor="s")
    assert Payment.objects.get(order=order).status == "voided"


@pytest.mark.django_db(transaction=True)
def test_a_wallet_approval_racing_the_orders_expiry_never_deadlocks(lock_order, enqueued):
    """The notification authorises (Payment -> CheckoutSession -> Order -> SubOrders -> Products
    -> ledger accounts) while the expiry closes the order (CheckoutSession -> Order -> Products):
    one of them wins, neither fails with a deadlock, and the money is never left held."""
    order = make_order(buyer=make_buyer())
    payment = payment_start(order=order, method="wallet", wallet="alipay", actor="b").payment
    trade = SandboxWalletTrade.objects.get(out_trade_no=str(payment.id))
    notice = sandbox_wallet.wallets["alipay"].buyer_decide(trade_no=trade.trade_no, approve=True)
    later = timezone.now() + timedelta(days=1)

    results = run_together(
        lambda: notification_receive(provider_name="alipay", params=notice.params),
        lambda: order_expire_unpaid(now=later),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    payment.refresh_from_db()
    order.refresh_from_db()
    # Either the approval won (order paid) or the expiry did (the payment fails, released).
    assert (order.status, payment.status) in {("paid", "authorized"), ("expired", "failed")}
