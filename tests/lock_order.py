"""A fixture that fails a test whose code takes row locks out of the project's one lock order
(docs/architecture.md, "Lock order"), modelled on Saleor's lock-order checks.

Every statement on every connection (the test's, and each thread's in tests/concurrency.py) is
seen before it runs. A statement that locks rows has a rank: SELECT ... FOR [NO KEY] UPDATE / FOR
SHARE by the tables it locks, UPDATE and DELETE by their table, and a call of one of the payment or
ledger functions by the ranks its documented lock order names (in that order). Within one
transaction the ranks must never go down: taking a rank below the highest one held is a
violation, unless that rank is held already (the same rows locked again: a re-entrant lock never
waits). SKIP LOCKED never waits either, so it is not ranked. Tables outside the order (vault,
webhooks, the sandbox providers' own rows) are not ranked.

A transaction ends at a commit or rollback; inside a test that runs in one transaction (pytest
django's default), each outermost atomic block of the code under test counts as one (it would be
its own transaction in production). Violations are collected and reported when the test ends,
never raised inside the code (a sweep that catches errors must not hide one).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

# The lock order, lowest rank first: the tables, then the functions' documented sequences.
LOCK_ORDER = (
    "payments_payment",
    "payments_checkoutsession",
    "payments_order",
    "payments_dispute",
    "payments_refund",
    "payments_suborder",
    "payments_product",
    "accounts_sellerkey",
    "ledger_account",
)
RANK = {table: rank for rank, table in enumerate(LOCK_ORDER)}

# What each PL/pgSQL function locks, in its own order (its header comment documents it).
FUNCTION_LOCKS = {
    "payments_start": ("payments_order",),
    "payments_order_mark_paid": (
        "payments_checkoutsession",
        "payments_order",
        "payments_suborder",
        "payments_product",
    ),
    "payments_authorize": (
        "payments_payment",
        "payments_checkoutsession",
        "payments_order",
        "payments_suborder",
        "payments_product",
        "ledger_account",
    ),
    "payments_capture": ("payments_payment", "payments_suborder", "ledger_account"),
    "ledger_create_transfers": ("ledger_account",),
    "ledger_create_transfer": ("ledger_account",),
}
_FUNCTION_CALL = re.compile(r"\b(" + "|".join(sorted(FUNCTION_LOCKS, key=len)[::-1]) + r")\s*\(")
_LOCKING_CLAUSE = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|SHARE|KEY\s+SHARE)\b", re.I)
_OF_TABLES = re.compile(r"\s+OF\s+((?:\"?\w+\"?\s*,\s*)*\"?\w+\"?)", re.I)
_FROM_TABLES = re.compile(r"\b(?:FROM|JOIN)\s+\"?(\w+)\"?", re.I)
_WRITE = re.compile(r"^\s*(?:UPDATE|DELETE\s+FROM)\s+\"?(\w+)\"?", re.I)


def locked_tables(sql: str) -> list[str]:
    """The ranked tables a statement locks, in the order it locks them."""
    function = _FUNCTION_CALL.search(sql)
    if function is not None:
        return list(FUNCTION_LOCKS[function.group(1)])
    write = _WRITE.match(sql)
    if write is not None:
        return [write.group(1)] if write.group(1) in RANK else []
    clause = _LOCKING_CLAUSE.search(sql)
    if clause is None or re.search(r"\bSKIP\s+LOCKED\b", sql, re.I):
        return []
    of = _OF_TABLES.match(sql, clause.end())
    if of is not None:
        tables = [name.strip().strip('"') for name in of.group(1).split(",")]
    else:
        tables = _FROM_TABLES.findall(sql[: clause.start()])
    ranked = [table for table in tables if table in RANK]
    return sorted(set(ranked), key=RANK.__getitem__)


@dataclass
class _Transaction:
    token: object = None
    held: list[str] = field(default_factory=list)  # tables, in the order first locked
    statements: list[str] = field(default_factory=list)


@dataclass
class LockOrderChecker:
    """Collects violations: (the table taken, the tables held, the transaction's statements)."""

    violations: list[str] = field(default_factory=list)
    base_depth: dict[int, int] = field(default_factory=dict)
    _state: dict[int, _Transaction] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _token(self, conn) -> object | None:
        """Which transaction a statement runs in, or None for a statement of its own."""
        base = self.base_depth.get(id(conn), 0)
        if len(conn.atomic_blocks) <= base:
            return None
        generation = getattr(conn, "_lock_order_generation", 0)
        # The outermost block has no savepoint: the code's outermost one is savepoint_ids[base-1].
        return (generation, conn.savepoint_ids[base - 1] if base else None)

    def __call__(self, execute, sql, params, many, context):
        conn = context["connection"]
        tables = locked_tables(sql) if isinstance(sql, str) else []
        token = self._token(conn)
        state = self._state.get(id(conn))
        if state is None or token is None or state.token != token:
            state = _Transaction(token=token)
            self._state[id(conn)] = state
        if tables:
            state.statements.append(" ".join(sql.split())[:160])
            for table in tables:
                top = max((RANK[held] for held in state.held), default=-1)
                if RANK[table] < top and table not in state.held:
                    with self._lock:
                        self.violations.append(
                            f"took {table} while holding {', '.join(state.held)}; "
                            "statements: " + " | ".join(state.statements)
                        )
                if table not in state.held:
                    state.held.append(table)
        try:
            return execute(sql, params, many, context)
        finally:
            if token is None:
                self._state.pop(id(conn), None)

    def install(self, conn) -> None:
        if self not in conn.execute_wrappers:
            conn.execute_wrappers.append(self)

    def uninstall(self, conn) -> None:
        if self in conn.execute_wrappers:
            conn.execute_wrappers.remove(self)


@pytest.fixture
def lock_order(monkeypatch):
    """Fail the test if its code takes row locks out of the documented order (see the module)."""
    checker = LockOrderChecker()
    main = connections[DEFAULT_DB_ALIAS]  # this thread's wrapper (django.db.connection is a proxy)
    checker.base_depth[id(main)] = len(main.atomic_blocks)
    installed = [main]
    checker.install(main)

    def on_connect(sender, connection, **kwargs):
        checker.install(connection)
        installed.append(connection)

    for name in ("commit", "rollback"):
        original = getattr(BaseDatabaseWrapper, name)

        def ended(self, _original=original):
            self._lock_order_generation = getattr(self, "_lock_order_generation", 0) + 1
            return _original(self)

        monkeypatch.setattr(BaseDatabaseWrapper, name, ended)
    connection_created.connect(on_connect, weak=False)
    try:
        yield checker
    finally:
        connection_created.disconnect(on_connect)
        for conn in installed:
            checker.uninstall(conn)
    assert not checker.violations, "locks taken out of order:\n" + "\n".join(checker.violations)
