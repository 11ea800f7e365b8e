"""The bank's own database: one SQLite file, WAL mode, one connection per thread.

Writes run in `BEGIN IMMEDIATE` transactions (`Database.write()`): the write lock is taken at the
start, so two requests inserting the same idempotency key never both see it missing, and a
read-then-write inside one transaction sees no other writer in between. Balances change only
together with the booking that explains them (bookings are append-only).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    -- An account is known by its IBAN, or (a US account) by its ABA routing and account number.
    iban TEXT UNIQUE,
    routing_number TEXT NOT NULL DEFAULT '',
    account_number TEXT NOT NULL DEFAULT '',
    bic TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    currency TEXT NOT NULL,
    opening_balance_minor INTEGER NOT NULL,
    balance_minor INTEGER NOT NULL,
    is_platform INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    -- Sandbox behaviour: credits to this account come back as returns after being paid.
    returns_credits INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    closed_at TEXT,
    CHECK ((iban IS NULL) = (routing_number <> '' AND account_number <> ''))
);
CREATE UNIQUE INDEX IF NOT EXISTS accounts_one_platform_account_per_currency
    ON accounts (currency) WHERE is_platform = 1;
CREATE UNIQUE INDEX IF NOT EXISTS accounts_us_number
    ON accounts (routing_number, account_number) WHERE iban IS NULL;

CREATE TABLE IF NOT EXISTS transfers (
    payout_id TEXT PRIMARY KEY,
    bank_reference TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    creditor_name TEXT NOT NULL,
    creditor_iban TEXT NOT NULL,  -- '' for a US account:
    creditor_routing_number TEXT NOT NULL DEFAULT '',
    creditor_account_number TEXT NOT NULL DEFAULT '',
    creditor_bic TEXT NOT NULL,
    remittance TEXT NOT NULL,
    debtor_account_id INTEGER NOT NULL REFERENCES accounts (id),
    creditor_account_id INTEGER REFERENCES accounts (id),
    status TEXT NOT NULL CHECK (status IN ('accepted', 'paid', 'returned', 'rejected')),
    failure_code TEXT NOT NULL DEFAULT '',
    reason_code TEXT NOT NULL DEFAULT '',
    failure_message TEXT NOT NULL DEFAULT '',
    accepted_at TEXT NOT NULL,
    settled_at TEXT,
    returned_at TEXT,
    settle_due REAL,
    return_due REAL
);
CREATE INDEX IF NOT EXISTS transfers_settle_due ON transfers (settle_due)
    WHERE settle_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS transfers_return_due ON transfers (return_due)
    WHERE return_due IS NOT NULL;

CREATE TABLE IF NOT EXISTS incoming (
    bank_reference TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    reference TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    debtor_name TEXT NOT NULL,
    debtor_iban TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    received_at TEXT NOT NULL
);

-- Append-only: every change of a balance, signed (+ credit, - debit).
CREATE TABLE IF NOT EXISTS bookings (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor <> 0),
    kind TEXT NOT NULL CHECK (kind IN ('transfer', 'return', 'incoming')),
    end_to_end_id TEXT NOT NULL,
    bank_reference TEXT NOT NULL,
    counterparty_name TEXT NOT NULL,
    counterparty_iban TEXT NOT NULL,
    counterparty_account TEXT NOT NULL DEFAULT '',  -- a US account's number (no IBAN)
    remittance TEXT NOT NULL,
    creditor_reference TEXT NOT NULL DEFAULT '',
    reason_code TEXT NOT NULL DEFAULT '',
    booked_at TEXT NOT NULL,
    booked_on TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bookings_by_account_day ON bookings (account_id, booked_on);

-- The callback outbox: written in the same transaction as the change it reports.
CREATE TABLE IF NOT EXISTS callbacks (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dropped', 'failed')),
    copies_left INTEGER NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS callbacks_due ON callbacks (next_attempt) WHERE status = 'pending';
"""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """Fixed-width UTC text ('2025-03-01T09:30:00.000123Z'): sorts as it reads."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Database:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # isolation_level=None: no implicit transactions; `write()` says BEGIN IMMEDIATE.
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection = connection
        return connection

    def create_schema(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _upgrade(self.connection())
        self.connection().executescript(SCHEMA)

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        connection = self.connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for several reads (a deferred transaction)."""
        connection = self.connection()
        connection.execute("BEGIN")
        try:
            yield connection
        finally:
            connection.execute("COMMIT")

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


# A bank file made before US accounts: the accounts table is rebuilt (an IBAN becomes optional;
# SQLite cannot relax NOT NULL in place) and the other tables take their new columns.
_COPY_V1_ACCOUNTS = """
INSERT INTO accounts_v2 (id, iban, bic, holder_name, currency, opening_balance_minor,
                         balance_minor, is_platform, status, returns_credits, created_at, closed_at)
SELECT id, iban, bic, holder_name, currency, opening_balance_minor, balance_minor, is_platform,
       status, returns_credits, created_at, closed_at
  FROM accounts
"""
_ADDED_COLUMNS = (
    ("transfers", "creditor_routing_number", "TEXT NOT NULL DEFAULT ''"),
    ("transfers", "creditor_account_number", "TEXT NOT NULL DEFAULT ''"),
    ("bookings", "counterparty_account", "TEXT NOT NULL DEFAULT ''"),
)


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


def _upgrade(connection: sqlite3.Connection) -> None:
    accounts = _columns(connection, "accounts")
    if accounts and "routing_number" not in accounts:
        create_accounts = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS accounts") :]
        create_accounts = create_accounts[: create_accounts.index(");") + 2]
        connection.execute("PRAGMA foreign_keys=OFF")  # the other tables' rows keep their ids
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(create_accounts.replace("IF NOT EXISTS accounts", "accounts_v2"))
        connection.execute(_COPY_V1_ACCOUNTS)
        connection.execute("DROP TABLE accounts")
        connection.execute("ALTER TABLE accounts_v2 RENAME TO accounts")
        connection.execute("COMMIT")
        connection.execute("PRAGMA foreign_keys=ON")
    for table, column, kind in _ADDED_COLUMNS:
        present = _columns(connection, table)
        if present and column not in present:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def reset_database(path: Path) -> list[Path]:
    """Delete the bank's database file and its WAL/SHM companions; the paths removed."""
    removed = []
    for candidate in (Path(path), Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists():
            candidate.unlink()
            removed.append(candidate)
    return removed
