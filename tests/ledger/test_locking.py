"""Locks come before writes, in ascending account id order, and only on accounts with a limit.

Posting is one PL/pgSQL call, so its statements cannot be captured one by one: the tests watch a
real poster (one transfer, and a linked batch) wait on a held account lock (pg_locks /
pg_stat_activity): while it waits it holds no write lock on any ledger table, has not locked the
other limited account although that one is debited first in the request, and has locked no
account without a limit. Each posting function's source takes its lock before any write. Also:
posting is one round trip.
"""

from __future__ import annotations

import queue
import threading
import time

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.selectors import Balance, account_balance
from ledger.services import create_transfer, create_transfers
from tests.ledger.factories import DEBIT_LIMIT, account, request


@pytest.fixture
def funded():
    source = account("external:card")
    low = account("seller:1:available", limit=DEBIT_LIMIT)
    high = account("seller:2:available", limit=DEBIT_LIMIT)
    plain = account("platform:fees")
    for target in (low, high):
        create_transfer(request(source, target, 1_000))
    return source, low, high, plain


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepare", [True, False])
def test_posting_is_one_round_trip(funded, settings, prepare):
    settings.LEDGER_FAST_PATH_PREPARE = prepare
    source, low, high, plain = funded
    with CaptureQueriesContext(connection) as captured:
        create_transfer(request(low, plain, 5))
    assert len(captured.captured_queries) == 1
    assert "ledger_create_transfer(" in captured.captured_queries[0]["sql"]
    with CaptureQueriesContext(connection) as captured:
        create_transfers([request(high, low, 5), request(low, plain, 3), request(source, high, 1)])
    assert len(captured.captured_queries) == 1
    assert "ledger_create_transfers(" in captured.captured_queries[0]["sql"]


@pytest.mark.django_db
@pytest.mark.parametrize("function", ["ledger_create_transfer", "ledger_create_transfers"])
def test_the_posting_functions_lock_before_they_write(function):
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", [function])
        (source,) = cursor.fetchone()
    lock = source.index("FOR NO KEY UPDATE")
    assert "ORDER BY a.id" in source[source.rindex("SELECT", 0, lock) : lock]
    for write in ("INSERT INTO", "UPDATE ledger_account", "DELETE"):
        position = source.find(write)
        assert position == -1 or position > lock, write


def _raw_connection(**kwargs) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        **kwargs,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch", [False, True], ids=["one transfer", "linked batch"])
def test_a_waiting_poster_holds_no_write_lock_and_locks_in_id_order(funded, batch):
    source, low, high, plain = funded
    blocker = _raw_connection()
    observer = _raw_connection(autocommit=True)
    pids: queue.Queue = queue.Queue()
    outcome: dict = {}

    def poster():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.put(cursor.fetchone()[0])
            # Debits `high` first in the request; the ledger must lock `low` (lower id) first.
            if batch:
                # Names the higher id first and touches two accounts without a limit.
                outcome["transfers"] = create_transfers(
                    [request(high, low, 5), request(low, plain, 3), request(source, high, 1)]
                )
            else:
                outcome["transfers"] = [create_transfer(request(high, low, 7))]
        except Exception as error:
            outcome["error"] = error
        finally:
            connection.close()

    try:
        blocker.execute("SELECT id FROM ledger_account WHERE id = %s FOR UPDATE", [low.id])
        thread = threading.Thread(target=poster)
        thread.start()
        pid = pids.get(timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = observer.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
            if row and row[0] == "Lock":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the poster never waited for the account lock")

        held = observer.execute(
            "SELECT relation::regclass::text, mode FROM pg_locks "
            "WHERE pid = %s AND granted AND relation IS NOT NULL",
            [pid],
        ).fetchall()
        written = {
            table
            for table, mode in held
            if mode == "RowExclusiveLock"
            and table
            in {"ledger_transfer", "ledger_logqueue", "ledger_balancedelta", "ledger_account"}
        }
        assert written == set()
        # `high` is free: the poster did not lock it before `low`; nor did it lock the accounts
        # without a limit.
        for free in (high, plain, source):
            with observer.transaction():
                observer.execute(
                    "SELECT id FROM ledger_account WHERE id = %s FOR UPDATE NOWAIT", [free.id]
                )
    finally:
        blocker.rollback()
        blocker.close()
        observer.close()
    thread.join(timeout=30)
    assert "error" not in outcome, outcome.get("error")
    if batch:
        assert [t.amount_minor for t in outcome["transfers"]] == [5, 3, 1]
        assert account_balance(low.id) == Balance(0, 3, 0, 1_005)
        assert account_balance(high.id) == Balance(0, 5, 0, 1_001)
        assert account_balance(plain.id) == Balance(0, 0, 0, 3)
    else:
        assert [t.amount_minor for t in outcome["transfers"]] == [7]
        assert account_balance(low.id) == Balance(0, 0, 0, 1_007)
        assert account_balance(high.id) == Balance(0, 7, 0, 1_000)
