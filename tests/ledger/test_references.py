"""Referential integrity without row-by-row FOREIGN KEYs (migration 0003, PostgreSQL): accounts and
transfers are never deleted nor renumbered, and every INSERT is checked once per statement for the
accounts and transfers it names. ledger_verify names a dangling reference however it got there."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import Account, LogQueue
from ledger.verification import verify_ledger
from tests.ledger.seal_factories import make_account, post

pytestmark = pytest.mark.django_db


def sql(statement: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def insert_transfer(debit_id: int, credit_id: int) -> None:
    sql(
        "INSERT INTO ledger_transfer (id, kind, debit_account_id, credit_account_id, amount_minor,"
        " currency, reason, reference, metadata, created_at)"
        " VALUES (%s, 'posted', %s, %s, 5, 'EUR', 'raw', '', '{}', now())",
        [uuid.uuid4(), debit_id, credit_id],
    )


def test_an_account_or_a_transfer_is_never_deleted_nor_renumbered():
    a, b = make_account("a"), make_account("b")
    transfer = post(a, b, 10)
    unused = make_account("unused")
    for statement, params in [
        ("DELETE FROM ledger_account WHERE id = %s", [unused.id]),
        ("DELETE FROM ledger_account WHERE id = %s", [a.id]),
        ("UPDATE ledger_account SET id = id + 1000 WHERE id = %s", [b.id]),
        ("DELETE FROM ledger_transfer WHERE id = %s", [transfer.id]),
        ("UPDATE ledger_transfer SET id = %s WHERE id = %s", [uuid.uuid4(), transfer.id]),
    ]:
        with pytest.raises(IntegrityError):
            sql(statement, params)
    assert Account.objects.count() == 3
    # Other columns still change (and ledger_verify catches it): only ids are fixed.
    sql("UPDATE ledger_account SET owner_ref = 'x' WHERE id = %s", [unused.id])


def test_every_insert_is_checked_for_the_accounts_and_transfers_it_names():
    a, b = make_account("a"), make_account("b")
    missing = b.id + 1000
    insert_transfer(a.id, b.id)
    with pytest.raises(IntegrityError, match="names an account that does not exist"):
        insert_transfer(a.id, missing)
    with pytest.raises(IntegrityError, match="names an account that does not exist"):
        insert_transfer(missing, b.id)
    with pytest.raises(IntegrityError, match="balance delta names account"):
        sql(
            "INSERT INTO ledger_balancedelta (account_id, debits_pending, debits_posted,"
            " credits_pending, credits_posted) VALUES (%s, 0, 0, 0, 1)",
            [missing],
        )
    with pytest.raises(IntegrityError, match="log queue names transfer"):
        sql("INSERT INTO ledger_logqueue (transfer_id) VALUES (%s)", [uuid.uuid4()])
    # A raw UPDATE pointing a transfer elsewhere is checked the same way.
    with pytest.raises(IntegrityError, match="names an account that does not exist"):
        sql("UPDATE ledger_transfer SET credit_account_id = %s", [missing])


def settle_deferred_checks() -> None:
    # The test runs in one transaction: TRUNCATE and ALTER TABLE refuse while deferred checks
    # (the pending FOREIGN KEY kept on transfers) are still queued.
    sql("SET CONSTRAINTS ALL IMMEDIATE")


def test_truncating_accounts_or_transfers_alone_is_refused():
    a, b = make_account("a"), make_account("b")
    post(a, b, 10)
    settle_deferred_checks()
    with pytest.raises(IntegrityError):
        sql("TRUNCATE ledger_account")
    LogQueue.objects.get()  # the transfer is still queued
    with pytest.raises(IntegrityError):
        sql("TRUNCATE ledger_transfer, ledger_logentry")
    sql("TRUNCATE ledger_logqueue, ledger_logentry, ledger_balancedelta, ledger_transfer")
    sql("TRUNCATE ledger_account")


def test_ledger_verify_names_a_dangling_reference():
    a, b = make_account("a"), make_account("b")
    transfer = post(a, b, 10)
    missing = b.id + 1000
    settle_deferred_checks()
    # Someone with the rights to switch the triggers off does what they guard against.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE ledger_transfer DISABLE TRIGGER USER")
        cursor.execute("UPDATE ledger_transfer SET credit_account_id = %s", [missing])
        cursor.execute("ALTER TABLE ledger_transfer ENABLE TRIGGER USER")

    report = verify_ledger()

    assert (
        f"transfer {transfer.id}: names an account that does not exist "
        f"(debit {a.id}, credit {missing})"
    ) in report.problems
