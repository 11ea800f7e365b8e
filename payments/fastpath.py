"""The payment fast path on PostgreSQL: each hot step (start a card payment, apply its
authorisation, capture) is one call of a PL/pgSQL function (payments/sql/), instead of a dozen
ORM statements. Other databases, and the cases a function declines ("fallback"), take the Python
path in payment_flows / state, which stays the reference for the rules.

settings.PAYMENTS_FAST_PATH = False turns it off (tests run both ways where it matters).
"""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from ledger.fastpath import prepared_cursor


def fast_path_enabled() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql" and getattr(
        settings, "PAYMENTS_FAST_PATH", True
    )


def fast_call(sql: str, params: list) -> list[tuple]:
    """Run one statement on the reused server-binding cursor (prepared after a few runs) and
    return its rows. Errors are Django's (translated), so callers catch DatabaseError."""
    conn = connections[DEFAULT_DB_ALIAS]
    cursor, close = prepared_cursor(conn)
    try:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []
    finally:
        if close:
            cursor.close()
