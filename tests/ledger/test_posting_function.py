"""The two posting functions agree: ledger_create_transfer (one transfer, what create_transfer calls)
and ledger_create_transfers called with that one request answer and write the same, refusals
included (code and details), in every single-transfer case of the checks' order."""

import datetime as dt
import json
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from ledger import posting
from ledger.requests import validate_request
from ledger.selectors import account_balance
from ledger.services import create_transfer
from tests.ledger.factories import CREDIT_LIMIT, DEBIT_LIMIT, account, close, request

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


def _single(valid) -> list[tuple]:
    metadata = json.dumps(valid.metadata, separators=(",", ":")) if valid.metadata else "{}"
    with connection.cursor() as cursor:
        cursor.execute(
            posting._SINGLE_SQL,
            [
                valid.id,
                valid.kind,
                valid.debit_account_id,
                valid.credit_account_id,
                valid.amount_minor,
                valid.currency,
                valid.pending_id,
                valid.timeout_s,
                valid.reason,
                valid.reference,
                metadata,
            ],
        )
        return cursor.fetchall()


def _batch_of_one(valid) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(posting._BATCH_SQL, [json.dumps([valid.as_json()]), None])
        return cursor.fetchall()


def _outcome(call, req, accounts) -> dict:
    """What the call answers and writes, in a savepoint rolled back afterwards."""
    valid = validate_request(req)
    seen: dict = {}
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    rows = call(valid)
            except DatabaseError as error:
                cause = error.__cause__
                assert getattr(cause, "sqlstate", None) == posting.REFUSAL_SQLSTATE, error
                seen["refused"] = (
                    cause.diag.message_primary,
                    json.loads(cause.diag.message_detail),
                )
            else:
                [(_index, created_at, amount, timeout_at, batch_id, replayed)] = rows
                seen["answer"] = (
                    amount,
                    timeout_at - created_at if timeout_at else None,
                    batch_id,
                    replayed,
                )
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT kind, debit_account_id, credit_account_id, amount_minor, currency,"
                        " pending_id, timeout_at - created_at, batch_id, reason, reference,"
                        " metadata, created_at = %s FROM ledger_transfer WHERE id = %s",
                        [created_at, valid.id],
                    )
                    seen["row"] = cursor.fetchall()
                    cursor.execute("SELECT count(*) FROM ledger_logqueue")
                    seen["queued"] = cursor.fetchone()[0]
            seen["balances"] = [account_balance(a.id) for a in accounts]
            raise _Rollback
    except _Rollback:
        pass
    return seen


@pytest.fixture
def chart():
    source = account("external:card")
    escrow = account("platform:escrow", limit=DEBIT_LIMIT)
    fees = account("platform:fees")
    capped = account("platform:capped", limit=CREDIT_LIMIT)
    euro = account("platform:escrow", currency="EUR")
    create_transfer(request(source, escrow, 1_000, reason="fund"))
    create_transfer(request(capped, source, 50, reason="fund"))
    stored = create_transfer(request(source, fees, 30, metadata={"order": 7}, reference="o:7"))
    pending = create_transfer(request(source, escrow, 100, kind="pending", timeout_s=3_600))
    closed = create_transfer(request(source, fees, 60, kind="pending"))
    create_transfer(close(closed, "void_pending"))
    expired = create_transfer(request(source, fees, 70, kind="pending", timeout_s=3_600))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_transfer SET timeout_at = created_at - interval '1 second' "
            "WHERE id = %s",
            [expired.id],
        )
    return {
        "source": source,
        "escrow": escrow,
        "fees": fees,
        "capped": capped,
        "euro": euro,
        "stored": stored,
        "pending": pending,
        "closed": closed,
        "expired": expired,
    }


def _same_as(stored, **changes):
    fields = {
        "id": stored.id,
        "kind": stored.kind,
        "currency": stored.currency,
        "reason": stored.reason,
        "reference": stored.reference,
        "metadata": stored.metadata,
        **changes,
    }
    amount = fields.pop("amount_minor", stored.amount_minor)
    return request(stored.debit_account_id, stored.credit_account_id, amount, **fields)


CASES = {
    "posted": lambda c: request(c["source"], c["escrow"], 10),
    "pending with a timeout": lambda c: request(
        c["source"], c["fees"], 20, kind="pending", timeout_s=60
    ),
    "exceeds a debit limit": lambda c: request(c["escrow"], c["source"], 2_000),
    "exceeds a credit limit": lambda c: request(c["source"], c["capped"], 51),
    "debit account missing": lambda c: request(10**9, c["escrow"], 5),
    "credit account missing": lambda c: request(c["source"], 10**9, 5),
    "currency mismatch": lambda c: request(c["source"], c["euro"], 5),
    "full post of a pending": lambda c: close(c["pending"], "post_pending"),
    "partial post of a pending": lambda c: close(c["pending"], "post_pending", 40),
    "post above the pending amount": lambda c: close(c["pending"], "post_pending", 101),
    "void of a pending": lambda c: close(c["pending"], "void_pending"),
    "close of a posted transfer": lambda c: close(c["stored"], "void_pending"),
    "close of an unknown pending": lambda c: request(
        c["source"], c["escrow"], None, kind="void_pending", pending_id=uuid.uuid4()
    ),
    "close naming other accounts": lambda c: request(
        c["source"], c["fees"], None, kind="void_pending", pending_id=c["pending"].id
    ),
    "close of a closed pending": lambda c: close(c["closed"], "post_pending"),
    "post of an expired pending": lambda c: close(c["expired"], "post_pending"),
    "void of an expired pending": lambda c: close(c["expired"], "void_pending"),
    "replay, same fields": lambda c: _same_as(c["stored"]),
    "replay, other amount": lambda c: _same_as(c["stored"], amount_minor=31),
    "replay, other metadata": lambda c: _same_as(c["stored"], metadata={"order": 8}),
    "replay, other reference": lambda c: _same_as(c["stored"], reference="o:8"),
    "replay of a void, any amount": lambda c: close(
        c["closed"], "void_pending", id=c["closed_void_id"]
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_single_and_batch_of_one_agree(chart, case):
    chart["closed_void_id"] = _void_id(chart["closed"])
    req = CASES[case](chart)
    accounts = [chart[name] for name in ("source", "escrow", "fees", "capped", "euro")]

    single = _outcome(_single, req, accounts)
    batch = _outcome(_batch_of_one, req, accounts)

    assert single == batch
    assert single  # it answered or refused


def _void_id(pending) -> uuid.UUID:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM ledger_transfer WHERE pending_id = %s", [pending.id])
        return cursor.fetchone()[0]


def test_the_cases_cover_every_refusal_a_single_transfer_can_meet(chart):
    chart["closed_void_id"] = _void_id(chart["closed"])
    accounts = [chart["source"]]
    codes = set()
    for make in CASES.values():
        seen = _outcome(_single, make(chart), accounts)
        if "refused" in seen:
            codes.add(seen["refused"][0])
    assert codes == {
        "exceeds_limit",
        "account_not_found",
        "currency_mismatch",
        "exceeds_pending_amount",
        "pending_not_pending",
        "pending_not_found",
        "pending_mismatch",
        "pending_already_closed",
        "pending_expired",
        "transfer_exists",
    }
    assert (
        dt.timedelta(seconds=60)
        == _outcome(_single, CASES["pending with a timeout"](chart), [])["answer"][1]
    )
