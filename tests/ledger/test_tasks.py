"""Periodic work: the delta folder and the pending-timeout voider (called directly, no worker)."""

import datetime as dt
import time

import pytest

from ledger.models import BalanceDelta, LogQueue, Transfer, TransferKind
from ledger.selectors import Balance, account_balance, trial_balance
from ledger.services import (
    create_transfer,
    ledger_fold_deltas,
    ledger_void_expired_pendings,
    timeout_void_id,
)
from ledger.tasks import fold_balance_deltas, void_expired_pending_transfers
from tests.ledger.factories import DEBIT_LIMIT, account, close, request

pytestmark = pytest.mark.django_db


@pytest.fixture
def hot():
    card = account("external:card")
    fees = account("platform:fees")  # no limit: receives deltas
    escrow = account("platform:escrow", limit=DEBIT_LIMIT)
    return card, fees, escrow


def test_accounts_without_limit_get_deltas_limited_ones_get_counters(hot):
    card, fees, escrow = hot
    create_transfer(request(card, escrow, 500))
    create_transfer(request(escrow, fees, 20))
    create_transfer(request(escrow, fees, 30))

    assert escrow.__class__.objects.get(id=escrow.id).credits_posted == 500
    assert set(BalanceDelta.objects.values_list("account_id", flat=True)) == {card.id, fees.id}
    assert BalanceDelta.objects.filter(account=fees).count() == 2
    assert fees.__class__.objects.get(id=fees.id).credits_posted == 0  # not folded yet
    assert account_balance(fees.id) == Balance(0, 0, 0, 50)


def test_fold_is_bounded_filtered_and_exact(hot):
    card, fees, escrow = hot
    create_transfer(request(card, escrow, 500))
    for amount in (1, 2, 3, 4):
        create_transfer(request(escrow, fees, amount))
    assert BalanceDelta.objects.count() == 5

    assert ledger_fold_deltas(account_id=fees.id, limit=3) == 3
    assert account_balance(fees.id) == Balance(0, 0, 0, 10)
    assert BalanceDelta.objects.filter(account=fees).count() == 1
    assert BalanceDelta.objects.filter(account=card).count() == 1

    assert fold_balance_deltas() == 2
    assert BalanceDelta.objects.count() == 0
    stored = fees.__class__.objects.get(id=fees.id)
    assert stored.credits_posted == 10
    assert account_balance(card.id) == Balance(0, 500, 0, 0)
    assert all(row.net_posted == 0 for row in trial_balance().values())


def test_fold_keeps_pending_deltas_that_net_to_zero(hot):
    card, fees, _ = hot
    pending = create_transfer(request(card, fees, 40, kind="pending"))
    create_transfer(close(pending, "void_pending"))
    ledger_fold_deltas()
    assert account_balance(fees.id) == Balance(0, 0, 0, 0)
    assert account_balance(card.id) == Balance(0, 0, 0, 0)


def test_every_posting_queues_each_transfer_for_the_log(hot):
    card, fees, escrow = hot
    created = [create_transfer(request(card, escrow, 5)), create_transfer(request(escrow, fees, 5))]
    assert set(LogQueue.objects.values_list("transfer_id", flat=True)) == {t.id for t in created}


def test_timeout_voider(hot):
    card, _, escrow = hot
    expiring = create_transfer(request(card, escrow, 100, kind="pending", timeout_s=1))
    lasting = create_transfer(request(card, escrow, 60, kind="pending", timeout_s=3600))
    no_timeout = create_transfer(request(card, escrow, 7, kind="pending"))
    assert ledger_void_expired_pendings() == 0
    time.sleep(1.05)  # posting stamps with the database clock

    assert void_expired_pending_transfers() == 1

    void = Transfer.objects.get(pending=expiring)
    assert void.id == timeout_void_id(expiring.id)
    assert void.kind == TransferKind.VOID_PENDING
    assert void.reason == "pending_timeout"
    assert void.amount_minor == 100
    assert account_balance(escrow.id) == Balance(0, 0, 67, 0)
    assert not Transfer.objects.filter(pending__in=[lasting, no_timeout]).exists()
    # Running again finds nothing to do; voiding the same pending again is a replay.
    assert ledger_void_expired_pendings() == 0
    assert (
        ledger_void_expired_pendings(now=expiring.timeout_at + dt.timedelta(hours=2)) == 1
    )  # `lasting` only
    assert Transfer.objects.filter(kind=TransferKind.VOID_PENDING).count() == 2


def test_timeout_voider_skips_pendings_closed_meanwhile(hot):
    card, _, escrow = hot
    pending = create_transfer(request(card, escrow, 100, kind="pending", timeout_s=3600))
    create_transfer(close(pending, "void_pending"))
    later = pending.timeout_at + dt.timedelta(seconds=1)
    assert ledger_void_expired_pendings(now=later) == 0
