"""Issue 13, defects 1, 3 and 4: the order lifecycle when steps interleave.

1. A whole-payment capture never takes a part its seller declined, whether the decline came
   before the capture (its release at the provider slow or down) or while the capture was in
   flight (the provider took it: it is refunded).
3. A dispute resolved for the buyer on an accepted sub-order not captured yet releases the hold at
   the provider, ends the payment and the sub-order; a capture in flight at that moment never
   leaves the provider holding money the ledger says was released.
4. Authorised at the provider, but the order can no longer be paid: the payment fails with a
   message that says so, the money is released at once, and no sweep stops over it.

Provider faults (down, in flight) are injected around the sandbox providers' calls; the database
is the real PostgreSQL, and each step runs in its own (nested) transaction as it does in
production.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import ValidationError
from ledger.models import Transfer
from payments.flows.capture import payment_capture, payment_capture_automatic
from payments.flows.expiry import payments_expire_due
from payments.flows.notifications import notification_receive
from payments.flows.start import payment_start
from payments.flows.sub_order_money import sub_order_holds_settle
from payments.fulfilment.dashboard_acceptance import sub_order_accept_with_password
from payments.fulfilment.disputes import dispute_open, dispute_resolve
from payments.fulfilment.models import Refund
from payments.fulfilment.rejection import sub_order_reject
from payments.fulfilment.tasks import settle_sub_order_holds
from payments.models import Payment
from payments.orders.expiry import order_expire_unpaid
from payments.providers import sandbox_wallet
from payments.providers.base import ProviderError, ProviderUnavailable
from payments.providers.models import SandboxCardCharge, SandboxWalletTrade
from payments.providers.sandbox_card import SandboxCardProvider
from payments.providers.wallet import WalletProvider
from tests.lifecycle.accept_fixtures import (
    PASSWORD,
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    pay_by_card,
    place_order,
    snapshot,
    sub_order_of,
)
from tests.lifecycle.accept_fixtures import (
    balance as ledger_balance,
)
from tests.lifecycle.accept_fixtures import (
    make_seller as make_keyed_seller,
)
from tests.lifecycle.lifecycle_fixtures import card, run_sealing_task
from tests.lifecycle.release_fixtures import *  # noqa: F403  (refund_tasks)
from tests.lifecycle.release_fixtures import (
    assert_trial_balance_zero,
    run_refund_tasks,
)

pytestmark = pytest.mark.django_db


def down(self, **kwargs):
    raise ProviderUnavailable("the provider is down")


def trade_of(payment: Payment) -> SandboxWalletTrade:
    return SandboxWalletTrade.objects.get(out_trade_no=str(payment.id))


def pay_by_wallet_automatic(order, buyer) -> Payment:
    """Approved in the sandbox Alipay, automatic capture: the capture task is queued on commit
    (which never comes in a test transaction: the test runs its work when it wants)."""
    payment = payment_start(
        order=order,
        method="wallet",
        wallet="alipay",
        actor=f"buyer:{buyer.pk}",
        capture_method="automatic",
    ).payment
    notice = sandbox_wallet.wallets["alipay"].buyer_decide(
        trade_no=trade_of(payment).trade_no, approve=True
    )
    assert notification_receive(provider_name="alipay", params=notice.params).accepted
    payment.refresh_from_db()
    assert payment.status == "authorized"
    run_sealing_task(order)
    return payment


def two_seller_wallet_order(key_pool):
    kept_seller, declining_seller = make_keyed_seller(key_pool), make_keyed_seller(key_pool)
    buyer = make_buyer()
    order = place_order(
        buyer,
        [
            (make_product(kept_seller, price=1500), 1),
            (make_product(declining_seller, price=2500), 1),
        ],
    )
    payment = pay_by_wallet_automatic(order, buyer)
    kept, declined = sub_order_of(order, kept_seller), sub_order_of(order, declining_seller)
    return payment, kept, declined, (kept_seller, declining_seller)


def reject(sub_order, seller):
    return sub_order_reject(sub_order_id=sub_order.pk, seller=seller, reason="Sold out", actor="s")


# --- 1. money taken for a rejected sub-order ------------------------------------------------


def test_an_automatic_capture_after_a_rejection_takes_only_the_kept_part(key_pool, monkeypatch):
    payment, kept, declined, (_, declining_seller) = two_seller_wallet_order(key_pool)
    with monkeypatch.context() as patch:  # the rejection's release at the wallet fails
        patch.setattr(WalletProvider, "release_part", down)
        reject(declined, declining_seller)

    assert payment_capture_automatic(payment_id=payment.id)  # the queued task's work

    payment.refresh_from_db()
    declined.refresh_from_db()
    kept.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", 1500)
    assert (declined.status, declined.captured_minor) == ("rejected", 0)
    assert kept.captured_minor == 1500
    trade = trade_of(payment)
    assert (trade.captured_minor, trade.refunded_minor) == (1500, 0)  # the wallet took 15.00
    escrow = ledger_balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 1500)
    # Nothing left for the sweeper: the declined part was released by the capture itself.
    assert sub_order_holds_settle() == {"captured": 0, "released": 0, "failed": 0}
    assert_trial_balance_zero()


def test_a_rejection_while_the_capture_is_in_flight_refunds_the_part_taken(
    key_pool, monkeypatch, refund_tasks
):
    payment, _kept, declined, (_, declining_seller) = two_seller_wallet_order(key_pool)
    capture = WalletProvider.capture

    def capture_then_reject(self, **kwargs):
        result = capture(self, **kwargs)  # the wallet took everything ...
        reject(declined, declining_seller)  # ... as the seller said no (its release fails)
        return result

    with monkeypatch.context() as patch:
        patch.setattr(WalletProvider, "capture", capture_then_reject)
        assert payment_capture_automatic(payment_id=payment.id)

    settle_sub_order_holds()  # the beat sweep gives the declined part back
    run_refund_tasks(refund_tasks)

    declined.refresh_from_db()
    assert declined.status == "rejected"
    refund = Refund.objects.get(sub_order=declined)
    assert (refund.status, refund.amount_minor) == ("succeeded", 2500)
    trade = trade_of(payment)
    assert (trade.captured_minor, trade.refunded_minor) == (4000, 2500)
    assert ledger_balance("platform:escrow").credit_balance == 1500  # only the kept part is held
    assert settle_sub_order_holds()["refunded"] == 0  # once
    assert_trial_balance_zero()


def test_a_rejection_just_before_the_capture_reaches_the_wallet_is_released_there(
    key_pool, monkeypatch
):
    payment, kept, declined, (kept_seller, declining_seller) = two_seller_wallet_order(key_pool)
    capture = WalletProvider.capture

    def reject_then_capture(self, **kwargs):
        reject(declined, declining_seller)  # released at the wallet first
        return capture(self, **kwargs)  # a whole capture now asks for more than is left

    with monkeypatch.context() as patch:
        patch.setattr(WalletProvider, "capture", reject_then_capture)
        with pytest.raises(ProviderError):  # the wallet refuses; the task would retry
            payment_capture_automatic(payment_id=payment.id)
    assert trade_of(payment).captured_minor == 0
    # One part released on its own: the payment is settled part by part from now on, the kept
    # part captured as its seller accepts.
    sub_order_accept_with_password(
        sub_order_id=kept.pk, seller=kept_seller, password=PASSWORD, actor="a"
    )

    payment.refresh_from_db()
    declined.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", 1500)
    assert declined.captured_minor == 0
    assert trade_of(payment).captured_minor == 1500
    assert_trial_balance_zero()


def test_staff_cannot_capture_a_declined_part_and_nothing_changes(key_pool, monkeypatch):
    payment, kept, declined, (_, declining_seller) = two_seller_wallet_order(key_pool)
    with monkeypatch.context() as patch:
        patch.setattr(WalletProvider, "release_part", down)
        reject(declined, declining_seller)
    before = snapshot(declined)
    with pytest.raises(ValidationError) as caught:
        payment_capture(
            payment_id=payment.id,
            actor="staff:1",
            sub_order_amounts={kept.pk: 1500, declined.pk: 2500},
        )
    assert (caught.value.code, caught.value.field) == ("sub_order_declined", "sub_order_amounts")
    assert snapshot(declined) == before
    assert trade_of(payment).captured_minor == 0


# --- 3. a dispute on an accepted, not yet captured sub-order ----------------------------------


def accepted_uncaptured_card_order(key_pool, monkeypatch):
    """One seller accepted, but the processor was down: authorised, accepted, captured 0."""
    seller = make_keyed_seller(key_pool)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=2500), 1)])
    payment = pay_by_card(order, buyer)
    sub_order = sub_order_of(order, seller)
    with monkeypatch.context() as patch:
        patch.setattr(SandboxCardProvider, "capture_part", down)
        sub_order_accept_with_password(
            sub_order_id=sub_order.pk, seller=seller, password=PASSWORD, actor="s"
        )
    sub_order.refresh_from_db()
    assert (sub_order.status, sub_order.captured_minor) == ("accepted", 0)
    dispute = dispute_open(
        sub_order_id=sub_order.pk, buyer=buyer, reason="Never came", actor=f"buyer:{buyer.pk}"
    )
    return payment, sub_order, dispute


def charge_of(payment: Payment) -> SandboxCardCharge:
    return SandboxCardCharge.objects.get(reference=payment.provider_reference)


def resolve_for_buyer(dispute):
    return dispute_resolve(dispute_id=dispute.pk, outcome="buyer", actor="staff:1")


def test_a_dispute_resolved_for_the_buyer_before_capture_releases_the_hold_at_the_processor(
    key_pool, monkeypatch
):
    payment, sub_order, dispute = accepted_uncaptured_card_order(key_pool, monkeypatch)
    resolve_for_buyer(dispute)

    sub_order.refresh_from_db()
    payment.refresh_from_db()
    assert (sub_order.status, sub_order.captured_minor) == ("refunded", 0)
    assert payment.status == "voided"  # its last hold closed: the payment ended
    charge = charge_of(payment)
    assert (charge.status, charge.captured_minor) == ("voided", 0)  # released there too
    escrow = ledger_balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 0)
    assert settle_sub_order_holds() == {"captured": 0, "released": 0, "failed": 0, "refunded": 0}
    assert_trial_balance_zero()


def test_a_resolution_while_a_capture_is_on_its_way_leaves_the_processor_holding_nothing(
    key_pool, monkeypatch
):
    payment, sub_order, dispute = accepted_uncaptured_card_order(key_pool, monkeypatch)
    capture_part = SandboxCardProvider.capture_part

    def resolved_meanwhile(self, **kwargs):
        resolve_for_buyer(dispute)  # staff decide while the sweeper's call is on the wire
        return capture_part(self, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(SandboxCardProvider, "capture_part", resolved_meanwhile)
        sub_order_holds_settle()

    charge = charge_of(payment)
    assert (charge.status, charge.captured_minor) == ("voided", 0)
    payment.refresh_from_db()
    sub_order.refresh_from_db()
    assert payment.status == "voided"
    assert (sub_order.status, sub_order.captured_minor) == ("refunded", 0)
    assert_trial_balance_zero()


def test_a_capture_that_lands_before_the_resolution_is_refunded(
    key_pool, monkeypatch, refund_tasks
):
    payment, sub_order, dispute = accepted_uncaptured_card_order(key_pool, monkeypatch)
    capture_part = SandboxCardProvider.capture_part

    def captured_then_resolved(self, **kwargs):
        result = capture_part(self, **kwargs)  # the processor took it ...
        resolve_for_buyer(dispute)  # ... as staff decided for the buyer
        return result

    with monkeypatch.context() as patch:
        patch.setattr(SandboxCardProvider, "capture_part", captured_then_resolved)
        settle_sub_order_holds()
    run_refund_tasks(refund_tasks)

    charge = charge_of(payment)
    assert (charge.captured_minor, charge.refunded_minor) == (2500, 2500)
    sub_order.refresh_from_db()
    assert sub_order.status == "refunded"
    assert ledger_balance("platform:escrow").credit_balance == 0
    assert_trial_balance_zero()


# --- 4. authorised, but the order can no longer be paid ---------------------------------------


def order_sold_out_meanwhile(key_pool):
    """An order whose payment window lapses (stock back on the shelf) and whose last unit
    another buyer then buys."""
    seller = make_keyed_seller(key_pool)
    buyer = make_buyer()
    product = make_product(seller, price=3000, stock=1)
    order = place_order(buyer, [(product, 1)])
    return buyer, product, order


def sell_the_last_unit(product, order):
    assert order_expire_unpaid(now=timezone.now() + timedelta(days=1)) == 1
    place_order(make_buyer(), [(product, 1)])


def test_a_wallet_approval_after_the_last_unit_sold_fails_the_payment_and_releases_it(
    key_pool, django_capture_on_commit_callbacks, lock_order
):
    _buyer, product, order = order_sold_out_meanwhile(key_pool)
    payment = payment_start(order=order, method="wallet", wallet="alipay", actor="b").payment
    sell_the_last_unit(product, order)

    notice = sandbox_wallet.wallets["alipay"].buyer_decide(
        trade_no=trade_of(payment).trade_no, approve=True
    )
    with django_capture_on_commit_callbacks(execute=True):
        receipt = notification_receive(provider_name="alipay", params=notice.params)

    assert receipt.accepted  # answered: the wallet stops sending it
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "out_of_stock")
    assert "sold out" in payment.failure_message and "not charged" in payment.failure_message
    assert trade_of(payment).status == "TRADE_CLOSED"  # released at the wallet at once
    assert not Transfer.objects.filter(reference=f"payment:{payment.id}").exists()


def test_one_unpayable_recovery_does_not_stop_the_expiry_sweep(
    key_pool, monkeypatch, django_capture_on_commit_callbacks
):
    from payments.flows import authorize

    class Crash(Exception):
        pass

    def die(**kwargs):
        raise Crash

    _buyer, product, order = order_sold_out_meanwhile(key_pool)
    with monkeypatch.context() as patch:  # the process dies between the processor and us
        patch.setattr(authorize, "apply_authorize_result", die)
        with pytest.raises(Crash):
            payment_start(order=order, method="card", card=card(), actor="b")
    stale = Payment.objects.get(order=order)
    sell_the_last_unit(product, order)
    other = place_order(make_buyer(), [(make_product(make_keyed_seller(key_pool), price=900), 1)])
    wallet = payment_start(order=other, method="wallet", wallet="alipay", actor="b").payment

    with django_capture_on_commit_callbacks(execute=True):
        counts = payments_expire_due(now=timezone.now() + timedelta(hours=1))

    stale.refresh_from_db()
    assert (stale.status, stale.failure_code) == ("failed", "out_of_stock")
    assert charge_of(stale).status == "voided"  # released at the processor at once
    assert counts["wallet"] == 1  # the rest of the sweep ran
    assert Payment.objects.get(pk=wallet.pk).status == "expired"
