"""Bad input: each LedgerError case, with a clear message, and nothing written."""

import time
import uuid

import pytest
from django.db import DatabaseError, OperationalError

from ledger import errors, posting
from ledger.services import create_transfer, create_transfers, get_or_create_account
from tests.ledger.factories import CREDIT_LIMIT, DEBIT_LIMIT, account, close, request, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    source = account("external:card")
    escrow = account("platform:escrow", limit=DEBIT_LIMIT)
    other = account("platform:fees", limit=DEBIT_LIMIT)
    euro = account("platform:escrow", currency="EUR")
    create_transfer(request(source, escrow, 1_000, reason="fund"))
    return {"source": source, "escrow": escrow, "other": other, "euro": euro}


def refused(error_class, req, *, field=None):
    """Assert the request is refused with exactly this class (and field), writing nothing."""
    before = snapshot()
    with pytest.raises(error_class) as failure:
        create_transfer(req)
    assert type(failure.value) is error_class
    assert failure.value.message
    if field is not None:
        assert failure.value.field == field
    assert snapshot() == before
    return failure.value


@pytest.mark.parametrize("amount", [0, -1, 1.5, 2.0, True, False, "10", None, 10**15 + 1])
def test_amount_must_be_a_positive_int(accounts, amount):
    error = refused(
        errors.InvalidAmount,
        request(accounts["source"], accounts["escrow"], amount),
        field="amount_minor",
    )
    assert error.code == "invalid_amount"


@pytest.mark.parametrize("amount", [0, -5, 1.5, True])
def test_partial_post_amount_must_be_a_positive_int(accounts, amount):
    pending = create_transfer(request(accounts["source"], accounts["escrow"], 100, kind="pending"))
    refused(errors.InvalidAmount, close(pending, "post_pending", amount), field="amount_minor")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"id": "not-a-uuid"}, "id"),
        ({"kind": "refund"}, "kind"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "US"}, "currency"),
        ({"reason": ""}, "reason"),
        ({"reason": "Has Spaces"}, "reason"),
        ({"reason": "x" * 65}, "reason"),
        ({"reference": "r" * 129}, "reference"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"metadata": {"rate": 1.5}}, "metadata"),
        ({"metadata": {"blob": "x" * 9000}}, "metadata"),
        ({"pending_id": uuid.uuid4()}, "pending_id"),
        ({"timeout_s": 60}, "timeout_s"),
        ({"kind": "pending", "timeout_s": 0}, "timeout_s"),
        ({"kind": "pending", "timeout_s": True}, "timeout_s"),
        ({"kind": "post_pending"}, "pending_id"),
        ({"kind": "void_pending"}, "pending_id"),
    ],
)
def test_malformed_requests(accounts, fields, field):
    refused(
        errors.InvalidTransfer,
        request(accounts["source"], accounts["escrow"], 10, **fields),
        field=field,
    )


def test_account_ids_must_be_ints(accounts):
    refused(
        errors.InvalidTransfer,
        request(str(accounts["source"].id), accounts["escrow"], 10),
        field="debit_account_id",
    )


def test_same_account(accounts):
    error = refused(errors.SameAccount, request(accounts["escrow"], accounts["escrow"], 10))
    assert str(accounts["escrow"].id) in error.message


@pytest.mark.parametrize("side", ["debit", "credit"])
def test_account_not_found(accounts, side):
    missing = 999_999
    req = (
        request(missing, accounts["escrow"], 10)
        if side == "debit"
        else request(accounts["source"], missing, 10)
    )
    error = refused(errors.AccountNotFound, req, field=f"{side}_account_id")
    assert "999999" in error.message


def test_currency_mismatch_names_the_account(accounts):
    error = refused(errors.CurrencyMismatch, request(accounts["source"], accounts["euro"], 10))
    assert "platform:escrow" in error.message
    assert "EUR" in error.message


def test_transfer_exists_with_other_fields(accounts):
    original = request(accounts["source"], accounts["escrow"], 10)
    create_transfer(original)
    for changed in (
        {"amount_minor": 11},
        {"reason": "other"},
        {"reference": "order:1"},
        {"metadata": {"a": 1}},
        {"credit_account_id": accounts["other"].id},
        {"kind": "pending"},
    ):
        fields = {**original.__dict__, **changed}
        error = refused(errors.TransferExists, type(original)(**fields), field="id")
        assert next(iter(changed)) in error.message


def test_closing_an_unknown_pending(accounts):
    ghost = uuid.uuid4()
    error = refused(
        errors.PendingNotFound,
        request(
            accounts["source"], accounts["escrow"], None, kind="void_pending", pending_id=ghost
        ),
    )
    assert str(ghost) in error.message


def test_closing_a_posted_transfer(accounts):
    posted = create_transfer(request(accounts["source"], accounts["escrow"], 10))
    error = refused(errors.PendingNotFound, close(posted, "post_pending"))
    assert "not a pending transfer" in error.message


def test_closing_with_other_accounts(accounts):
    pending = create_transfer(request(accounts["source"], accounts["escrow"], 10, kind="pending"))
    refused(
        errors.PendingMismatch,
        request(
            accounts["source"],
            accounts["other"],
            None,
            kind="post_pending",
            pending_id=pending.id,
        ),
        field="credit_account_id",
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("post_pending", "post_pending"),
        ("post_pending", "void_pending"),
        ("void_pending", "post_pending"),
        ("void_pending", "void_pending"),
    ],
)
def test_a_pending_closes_once(accounts, first, second):
    pending = create_transfer(request(accounts["source"], accounts["escrow"], 10, kind="pending"))
    create_transfer(close(pending, first))
    error = refused(errors.PendingAlreadyClosed, close(pending, second))
    assert str(pending.id) in error.message


def test_post_more_than_pending(accounts):
    pending = create_transfer(request(accounts["source"], accounts["escrow"], 100, kind="pending"))
    error = refused(errors.ExceedsPendingAmount, close(pending, "post_pending", 101))
    assert isinstance(error, errors.InvalidAmount)
    assert "101" in error.message


def test_timed_out_pending_cannot_be_posted_only_voided(accounts):
    pending = create_transfer(
        request(accounts["source"], accounts["escrow"], 100, kind="pending", timeout_s=1)
    )
    assert (pending.timeout_at - pending.created_at).total_seconds() == 1
    time.sleep(1.05)  # the database clock decides, so wait for real

    refused(errors.PendingExpired, close(pending, "post_pending"))
    void = create_transfer(close(pending, "void_pending"))
    assert void.amount_minor == 100


def test_debit_limit_names_the_account(accounts):
    error = refused(errors.ExceedsLimit, request(accounts["escrow"], accounts["source"], 1_001))
    assert error.account_code == "platform:escrow"
    assert error.extra["limit"] == "debits_must_not_exceed_credits"
    # A pending debit counts against the limit too.
    refused(
        errors.ExceedsLimit, request(accounts["escrow"], accounts["source"], 1_001, kind="pending")
    )


def test_credit_limit_names_the_account(accounts):
    capped = account("external:bank", limit=CREDIT_LIMIT)
    error = refused(errors.ExceedsLimit, request(accounts["source"], capped, 1))
    assert error.account_code == "external:bank"
    assert error.extra["limit"] == "credits_must_not_exceed_debits"
    create_transfer(request(capped, accounts["source"], 50))
    create_transfer(request(accounts["source"], capped, 50))
    refused(errors.ExceedsLimit, request(accounts["source"], capped, 1, kind="pending"))


def test_batch_refusal_names_the_index_and_writes_nothing(accounts):
    before = snapshot()
    with pytest.raises(errors.BatchFailed) as failure:
        create_transfers(
            [
                request(accounts["source"], accounts["escrow"], 10),
                request(accounts["source"], accounts["other"], 10),
                request(accounts["escrow"], accounts["source"], 5_000),
            ]
        )
    assert failure.value.index == 2
    assert isinstance(failure.value.reason, errors.ExceedsLimit)
    assert failure.value.extra["reason_code"] == "exceeds_limit"
    assert "transfer 2" in failure.value.message
    assert snapshot() == before


def test_batch_refuses_malformed_member_and_duplicate_ids(accounts):
    before = snapshot()
    with pytest.raises(errors.BatchFailed) as failure:
        create_transfers(
            [
                request(accounts["source"], accounts["escrow"], 10),
                request(accounts["source"], accounts["escrow"], 0),
            ]
        )
    assert failure.value.index == 1
    assert isinstance(failure.value.reason, errors.InvalidAmount)

    twice = request(accounts["source"], accounts["escrow"], 10)
    with pytest.raises(errors.BatchFailed) as failure:
        create_transfers([twice, twice])
    assert failure.value.index == 1
    assert snapshot() == before


def test_batch_can_close_its_own_pending_but_not_a_later_one(accounts):
    pending = request(accounts["source"], accounts["escrow"], 10, kind="pending")
    post = request(
        accounts["source"], accounts["escrow"], 4, kind="post_pending", pending_id=pending.id
    )
    before = snapshot()
    with pytest.raises(errors.BatchFailed) as failure:
        create_transfers([post, pending])
    assert failure.value.index == 0
    assert isinstance(failure.value.reason, errors.PendingNotFound)
    assert snapshot() == before

    created = create_transfers([pending, post])
    assert [t.amount_minor for t in created] == [10, 4]


def test_account_definition_errors():
    with pytest.raises(errors.InvalidAccount):
        get_or_create_account(currency="usd", code="x")
    with pytest.raises(errors.InvalidAccount):
        get_or_create_account(currency="USD", code="")
    with pytest.raises(errors.InvalidAccount):
        get_or_create_account(
            currency="USD",
            code="x",
            debits_must_not_exceed_credits=True,
            credits_must_not_exceed_debits=True,
        )
    get_or_create_account(
        currency="USD", code="seller:1:available", debits_must_not_exceed_credits=True
    )
    with pytest.raises(errors.AccountConflict):
        get_or_create_account(currency="USD", code="seller:1:available")
    again = get_or_create_account(
        currency="USD", code="seller:1:available", debits_must_not_exceed_credits=True
    )
    assert again.debits_must_not_exceed_credits


class _FakeCause(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _contention_error() -> DatabaseError:
    error = OperationalError("deadlock detected")
    error.__cause__ = _FakeCause("40P01")
    return error


def test_contention_is_retried_then_reported_as_busy(accounts, monkeypatch):
    real = posting.post_transfers
    calls = {"n": 0}

    def flaky(requests, batch_id):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise _contention_error()
        return real(requests, batch_id)

    monkeypatch.setattr(posting, "post_transfers", flaky)
    created = create_transfer(request(accounts["source"], accounts["escrow"], 10))
    assert calls["n"] == 3
    assert created.amount_minor == 10

    def always(requests, batch_id):
        raise _contention_error()

    monkeypatch.setattr(posting, "post_transfers", always)
    before = snapshot()
    with pytest.raises(errors.LedgerBusy) as failure:
        create_transfer(request(accounts["source"], accounts["escrow"], 10))
    assert failure.value.http_status == 503
    assert snapshot() == before
