"""One reused server-binding psycopg cursor per PostgreSQL connection, for hot statements.

psycopg prepares a statement after it has run a few times on a connection: the server then skips
parsing and planning it, and the client skips quoting its arguments. Building a cursor per call
costs more than the call's own client work, so one is kept on the connection. Django's wrapper
around it is cheap and keeps error translation and query logging (tests count these statements).
settings.LEDGER_FAST_PATH_PREPARE = False falls back to Django's ordinary cursor (e.g. behind a
pooler in transaction mode, where prepared statements do not survive).
"""

from __future__ import annotations

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import pq

_TUPLES_OK = pq.ExecStatus.TUPLES_OK

# `INSERT ... SELECT ... FROM ASYNC_COMMIT ...`: the statement's own transaction (autocommit)
# commits without waiting for its WAL to reach disk (SET LOCAL synchronous_commit = off, as one
# statement). For a write whose loss in a crash is harmless because anything durable that depends
# on it commits synchronously later on the same connection, which flushes this WAL first (a later
# commit's flush covers every earlier WAL record). Inside a caller's transaction the setting would
# hold for the whole of it: callers use it only outside one (connection.in_atomic_block False).
ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"


def prepared_cursor(conn):
    """A cursor for one call: (wrapped cursor, whether to close it after)."""
    if not getattr(settings, "LEDGER_FAST_PATH_PREPARE", True):
        return conn.cursor(), True
    conn.ensure_connection()
    conn.validate_thread_sharing()
    raw = getattr(conn, "_ledger_cursor", None)
    if raw is None or raw.closed or raw.connection is not conn.connection:
        raw = psycopg.Cursor(conn.connection)
        conn._ledger_cursor = raw
    return (conn.make_debug_cursor(raw) if conn.queries_logged else conn.make_cursor(raw)), False


def fetch_all(sql: str, params: list, *, using: str = DEFAULT_DB_ALIAS) -> list[tuple]:
    """Run one statement on the connection's reused cursor and return its rows (PostgreSQL)."""
    conn = connections[using]
    cursor, close = prepared_cursor(conn)
    try:
        cursor.execute(sql, params)
        # Not `cursor.description`: it builds a Column object per column on every call (a tenth of
        # the client's work for the vault's wide row).
        result = cursor.cursor.pgresult
        return cursor.fetchall() if result is not None and result.status == _TUPLES_OK else []
    finally:
        if close:
            cursor.close()
