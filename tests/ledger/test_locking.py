"""Locks come before writes, in ascending account id order, and only on accounts with a limit.

Python path: the SQL is captured and the lock query must precede every INSERT/UPDATE (Saleor's
way). PL/pgSQL path: its statements run inside one call, so instead the test watches a real poster
wait on a held account lock (pg_locks / pg_stat_activity): while it waits it holds no write lock on
any ledger table and has not locked the other account, although that one is debited first in the
request. The same behavioural test runs on both paths. Also: the fast path is one round trip.
"""

from __future__ import annotations

import queue
import re
import threading
import time

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.selectors import Balance, account_balance
from ledger.services import create_transfer, create_transfers
from tests.ledger.factories import DEBIT_LIMIT, account, request

pytestmark = pytest.mark.postgres

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@pytest.fixture
def funded():
    source = account("external:card")
    low = account("seller:1:available", limit=DEBIT_LIMIT)
    high = account("seller:2:available", limit=DEBIT_LIMIT)
    plain = account("platform:fees")
    for target in (low, high):
        create_transfer(request(source, target, 1_000))
    return source, low, high, plain


@pytest.mark.django_db
def test_python_path_locks_limited_accounts_in_id_order_before_writing(funded, settings):
    settings.LEDGER_FAST_PATH = False
    source, low, high, plain = funded
    with CaptureQueriesContext(connection) as captured:
        # Requests name the higher id first; the lock must still go low, high.
        create_transfers([request(high, low, 5), request(low, plain, 3), request(source, high, 1)])

    statements = [query["sql"] for query in captured.captured_queries]
    locks = [i for i, sql in enumerate(statements) if "FOR NO KEY UPDATE" in sql]
    writes = [i for i, sql in enumerate(statements) if WRITE.match(sql)]
    assert len(locks) == 1
    assert writes
    assert locks[0] < min(writes)
    lock_sql = statements[locks[0]]
    assert 'ORDER BY "ledger_account"."id" ASC' in lock_sql
    locked_ids = {int(x) for x in re.search(r"IN \(([^)]*)\)", lock_sql).group(1).split(",")}
    assert locked_ids == {low.id, high.id}  # not the accounts without a limit


@pytest.mark.django_db(transaction=True)
def test_fast_path_is_one_round_trip(funded, settings):
    settings.LEDGER_FAST_PATH = True
    source, low, high, plain = funded
    with CaptureQueriesContext(connection) as captured:
        create_transfer(request(low, plain, 5))
    assert len(captured.captured_queries) == 1
    assert "ledger_create_transfers" in captured.captured_queries[0]["sql"]
    with CaptureQueriesContext(connection) as captured:
        create_transfers([request(high, low, 5), request(low, plain, 3), request(source, high, 1)])
    assert len(captured.captured_queries) == 1


@pytest.mark.django_db
def test_fast_path_function_locks_before_it_writes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'ledger_create_transfers'")
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
def test_a_waiting_poster_holds_no_write_lock_and_locks_in_id_order(funded, ledger_path):
    _, low, high, _ = funded
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
            outcome["transfer"] = create_transfer(request(high, low, 7))
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
        # `high` is free: the poster did not lock it before `low`.
        with observer.transaction():
            observer.execute(
                "SELECT id FROM ledger_account WHERE id = %s FOR UPDATE NOWAIT", [high.id]
            )
    finally:
        blocker.rollback()
        blocker.close()
        observer.close()
    thread.join(timeout=30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["transfer"].amount_minor == 7
    assert account_balance(low.id) == Balance(0, 0, 0, 1_007)
    assert account_balance(high.id) == Balance(0, 7, 0, 1_000)
