"""The PostgreSQL fast path: one call of ledger_create_transfer() per transfer, or of
ledger_create_transfers() per batch (ledger/sql/).

Outside a transaction the call is its own transaction: one round trip, durable on return. Inside
the caller's transaction it runs in a savepoint so that a refusal leaves the caller's work intact.

The call goes through a server-binding psycopg cursor (wrapped by Django as usual, so errors are
translated and queries logged in tests), which psycopg prepares after a few executions: the
server then skips parsing and planning the call, and the client skips quoting the arguments.
settings.LEDGER_FAST_PATH_PREPARE = False falls back to Django's ordinary cursor (e.g. behind a
pooler in transaction mode, where prepared statements do not survive).
"""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from core.fast_sql import prepared_cursor
from ledger.models import Transfer
from ledger.posting import Refusal
from ledger.requests import ValidRequest

REFUSAL_SQLSTATE = "LG001"
_FIELDS = [field.attname for field in Transfer._meta.concrete_fields]
_SINGLE_SQL = (
    "SELECT -1, * FROM ledger_create_transfer("
    "%s::uuid, %s::text, %s::bigint, %s::bigint, %s::bigint, %s::text, %s::uuid, %s::bigint, "
    "%s::text, %s::text, %s::jsonb)"
)
_BATCH_SQL = "SELECT * FROM ledger_create_transfers(%s::jsonb, %s::uuid)"


def fast_path_enabled() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql" and getattr(
        settings, "LEDGER_FAST_PATH", True
    )


def _call(conn, requests: list[ValidRequest], batch_id: uuid.UUID | None) -> list[tuple]:
    cursor, close = prepared_cursor(conn)
    try:
        return _execute(cursor, requests, batch_id)
    finally:
        if close:
            cursor.close()


def _execute(cursor, requests: list[ValidRequest], batch_id: uuid.UUID | None) -> list[tuple]:
    if len(requests) == 1 and batch_id is None:
        # One transfer (the common case): scalar arguments, the lighter function.
        r = requests[0]
        metadata = json.dumps(r.metadata, separators=(",", ":")) if r.metadata else "{}"
        cursor.execute(
            _SINGLE_SQL,
            [
                r.id,
                r.kind,
                r.debit_account_id,
                r.credit_account_id,
                r.amount_minor,
                r.currency,
                r.pending_id,
                r.timeout_s,
                r.reason,
                r.reference,
                metadata,
            ],
        )
    else:
        payload = json.dumps([r.as_json() for r in requests], separators=(",", ":"))
        cursor.execute(_BATCH_SQL, [payload, batch_id])
    return cursor.fetchall()


def post_transfers_fast(requests: list[ValidRequest], batch_id: uuid.UUID | None) -> list[Transfer]:
    conn = connections[DEFAULT_DB_ALIAS]
    try:
        if conn.in_atomic_block or not conn.get_autocommit():
            with transaction.atomic(using=conn.alias):
                rows = _call(conn, requests, batch_id)
        else:
            rows = _call(conn, requests, batch_id)
    except DatabaseError as exc:
        cause = exc.__cause__
        if getattr(cause, "sqlstate", None) != REFUSAL_SQLSTATE:
            raise
        detail = json.loads(cause.diag.message_detail)
        raise Refusal(detail.pop("index"), cause.diag.message_primary, detail) from None
    assert len(rows) == len(requests), "one result row per request"
    transfers = []
    for request, (_index, created_at, amount, timeout_at, row_batch_id, _replayed) in zip(
        requests, rows, strict=True
    ):
        values = {
            "id": request.id,
            "kind": request.kind,
            "debit_account_id": request.debit_account_id,
            "credit_account_id": request.credit_account_id,
            "amount_minor": amount,
            "currency": request.currency,
            "pending_id": request.pending_id,
            "timeout_at": timeout_at,
            "batch_id": row_batch_id,
            "reason": request.reason,
            "reference": request.reference,
            "metadata": request.metadata,
            "created_at": created_at,
        }
        transfers.append(Transfer.from_db(conn.alias, _FIELDS, [values[name] for name in _FIELDS]))
    return transfers
