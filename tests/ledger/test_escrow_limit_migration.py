"""Migration ledger 0005: an escrow account made before the chart gave escrow its limit gets it,
with its balance deltas folded first; an escrow already below zero stops the migration."""

import importlib

import pytest
from django.db import connection

from ledger import chart
from ledger.models import Account, BalanceDelta
from ledger.services import get_or_create_account

pytestmark = pytest.mark.django_db

migration = importlib.import_module("ledger.migrations.0005_escrow_never_negative")


class _Editor:
    connection = connection


def _old_escrow(**deltas: int) -> Account:
    """An escrow as the chart made it before: no limit, money in balance deltas."""
    account = get_or_create_account(currency="EUR", code=chart.ESCROW)
    BalanceDelta.objects.create(account=account, **deltas)
    return account


def test_an_old_escrow_gets_the_limit_and_keeps_its_balance():
    account = _old_escrow(credits_posted=500, debits_posted=120, debits_pending=30)

    migration.limit_escrow(None, _Editor())

    account.refresh_from_db()
    assert account.debits_must_not_exceed_credits
    assert (account.credits_posted, account.debits_posted, account.debits_pending) == (500, 120, 30)
    assert not BalanceDelta.objects.filter(account=account).exists()
    # The chart's account is now the same account, limit and all.
    assert chart.account(currency="EUR", code=chart.ESCROW) == account.pk


def test_an_overdrawn_escrow_stops_the_migration_and_changes_nothing():
    account = _old_escrow(credits_posted=100, debits_posted=150)

    with pytest.raises(RuntimeError, match=r"below zero \(EUR -50 minor units"):
        migration.limit_escrow(None, _Editor())

    account.refresh_from_db()
    assert not account.debits_must_not_exceed_credits
    assert BalanceDelta.objects.filter(account=account).count() == 1
