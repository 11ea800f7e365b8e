"""Reads: balance now and as of a moment, history with running balance, trial balance."""

import datetime as dt

import pytest

from ledger.errors import AccountNotFound, InvalidTransfer
from ledger.models import Transfer
from ledger.selectors import (
    Balance,
    account_balance,
    account_balances,
    account_by_code,
    account_history,
    trial_balance,
)
from ledger.services import create_transfer, create_transfers, ledger_fold_deltas
from tests.ledger.factories import DEBIT_LIMIT, account, close, request

pytestmark = pytest.mark.django_db


@pytest.fixture
def story():
    """card -> escrow: posted 1000, pending 300 (later posted 200), pending 50 (later voided)."""
    card = account("external:card")
    escrow = account("platform:escrow", limit=DEBIT_LIMIT)
    fees = account("platform:fees")
    steps = []
    steps.append(create_transfer(request(card, escrow, 1_000)))
    held = create_transfer(request(card, escrow, 300, kind="pending"))
    steps.append(held)
    small = create_transfer(request(card, escrow, 50, kind="pending"))
    steps.append(small)
    steps.append(create_transfer(request(escrow, fees, 100)))
    steps.append(create_transfer(close(held, "post_pending", 200)))
    steps.append(create_transfer(close(small, "void_pending")))
    return card, escrow, fees, steps


def test_balance_now_includes_unfolded_deltas(story):
    card, escrow, fees, _ = story
    assert account_balance(escrow.id) == Balance(0, 100, 0, 1_200)
    assert account_balance(card.id) == Balance(0, 1_200, 0, 0)
    assert account_balance(fees.id) == Balance(0, 0, 0, 100)
    ledger_fold_deltas()
    assert account_balance(card.id) == Balance(0, 1_200, 0, 0)
    assert account_balance(fees.id) == Balance(0, 0, 0, 100)


def test_balances_of_several_accounts_in_one_statement_agree_with_each(
    story, django_assert_num_queries
):
    card, escrow, fees, _ = story
    ids = [card.id, escrow.id, fees.id]
    with django_assert_num_queries(1):
        balances = account_balances([*ids, 987_654_321])  # an unknown id is left out
    assert balances == {account_id: account_balance(account_id) for account_id in ids}
    assert balances[escrow.id] == Balance(0, 100, 0, 1_200)  # unfolded deltas included
    assert account_balances([]) == {}


def test_balance_as_of_each_step(story):
    _, escrow, _, steps = story
    expected_after = [
        Balance(0, 0, 0, 1_000),
        Balance(0, 0, 300, 1_000),
        Balance(0, 0, 350, 1_000),
        Balance(0, 100, 350, 1_000),
        Balance(0, 100, 50, 1_200),  # the post releases the whole 300, posts 200
        Balance(0, 100, 0, 1_200),  # the void releases 50
    ]
    for transfer, expected in zip(steps, expected_after, strict=True):
        assert account_balance(escrow.id, as_of=transfer.created_at) == expected
    before_everything = steps[0].created_at - dt.timedelta(microseconds=1)
    assert account_balance(escrow.id, as_of=before_everything) == Balance(0, 0, 0, 0)
    assert account_balance(escrow.id, as_of=steps[-1].created_at) == account_balance(escrow.id)


def test_history_running_balance_and_cursor(story):
    _, escrow, _, steps = story
    first = account_history(escrow.id, limit=4)
    assert [row.transfer.id for row in first.rows] == [t.id for t in steps[:4]]
    assert [row.balance for row in first.rows] == [
        Balance(0, 0, 0, 1_000),
        Balance(0, 0, 300, 1_000),
        Balance(0, 0, 350, 1_000),
        Balance(0, 100, 350, 1_000),
    ]
    assert first.next_cursor
    second = account_history(escrow.id, cursor=first.next_cursor, limit=4)
    assert [row.transfer.id for row in second.rows] == [t.id for t in steps[4:]]
    assert [row.balance for row in second.rows] == [
        Balance(0, 100, 50, 1_200),
        Balance(0, 100, 0, 1_200),
    ]
    assert second.next_cursor is None
    assert second.rows[-1].balance == account_balance(escrow.id)


def test_history_orders_a_batch_in_application_order():
    card = account("external:card")
    escrow = account("platform:escrow", limit=DEBIT_LIMIT)
    pending = request(card, escrow, 70, kind="pending")
    post = request(card, escrow, 70, kind="post_pending", pending_id=pending.id)
    created = create_transfers([pending, post])
    assert created[0].created_at < created[1].created_at
    page = account_history(escrow.id)
    assert [row.balance for row in page.rows] == [Balance(0, 0, 70, 0), Balance(0, 0, 0, 70)]


def test_history_rejects_bad_cursor_and_limit(story):
    _, escrow, _, _ = story
    with pytest.raises(InvalidTransfer):
        account_history(escrow.id, cursor="garbage")
    with pytest.raises(InvalidTransfer):
        account_history(escrow.id, limit=0)
    with pytest.raises(AccountNotFound):
        account_history(999_999)


def test_trial_balance_per_currency(story):
    euro_in = account("external:card", currency="EUR")
    euro_escrow = account("platform:escrow", currency="EUR")
    create_transfer(request(euro_in, euro_escrow, 77, currency="EUR", kind="pending"))
    totals = trial_balance()
    assert set(totals) == {"EUR", "USD"}
    assert totals["USD"].debits_posted == totals["USD"].credits_posted == 1_300
    assert totals["EUR"].debits_pending == totals["EUR"].credits_pending == 77
    for row in totals.values():
        assert row.net_posted == row.net_pending == 0


def test_missing_account():
    with pytest.raises(AccountNotFound):
        account_balance(999_999)
    with pytest.raises(AccountNotFound):
        account_balance(999_999, as_of=dt.datetime.now(tz=dt.UTC))
    with pytest.raises(AccountNotFound):
        account_by_code(currency="USD", code="nobody")


def test_account_by_code():
    escrow = account("platform:escrow", limit=DEBIT_LIMIT)
    assert account_by_code(currency="USD", code="platform:escrow") == escrow


def test_transfers_are_stored_as_returned(story):
    *_, steps = story
    for transfer in steps:
        stored = Transfer.objects.get(id=transfer.id)
        assert (stored.amount_minor, stored.created_at, stored.kind) == (
            transfer.amount_minor,
            transfer.created_at,
            transfer.kind,
        )
