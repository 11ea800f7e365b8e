"""Posting: one call of a PL/pgSQL function (ledger/sql/), the only implementation of posting.

A single transfer (no batch id) goes to ledger_create_transfer, with scalar arguments; a linked
batch to ledger_create_transfers, as JSON. There is no other path (no Python copy, no switch). The
two functions apply the same checks in the same order with the same results
(tests/ledger/test_posting_function.py runs every single-transfer case through both); the single one is kept because the batch function called with one request
costs about twice the server CPU per transfer, which single-transfer throughput (bench_ledger's p2)
cannot afford (figures in docs/benchmarks.md). In short, as both apply them:

  lock    the accounts with a limit flag, ascending id (ledger/locking.py);
  closes  which of the named pending transfers are closed (read before pass 1, so that a twin
          of this request committing in between is seen as a replay, not as a foreign close);
  pass 1, every request: a stored transfer with the same id -> replay if every field matches,
          else transfer_exists naming the first field that differs, in the order kind,
          debit_account_id, credit_account_id, currency, pending_id, amount_minor (not for a void;
          None = the pending amount), timeout_s, reason, reference, metadata;
  pass 2, each new request in order:
          account_not_found (debit, then credit) -> currency_mismatch (debit, then credit) ->
          for a close: pending_not_found -> pending_not_pending -> pending_mismatch ->
          pending_already_closed -> pending_expired (post only) -> exceeds_pending_amount ->
          apply -> exceeds_limit (debit account, then credit account).
Nothing is written until every request has passed; then the transfers, their LogQueue rows, one
BalanceDelta per account without a limit and one counter UPDATE per locked account are written.

Outside a transaction the call is its own transaction: one round trip, durable on return. Inside
the caller's transaction it runs in a savepoint so that a refusal leaves the caller's work intact.

The call goes through a server-binding psycopg cursor (core/fast_sql.py; wrapped by Django as
usual, so errors are translated and queries logged in tests), which psycopg prepares after a few
executions: the server then skips parsing and planning the call, and the client skips quoting the
arguments. settings.LEDGER_FAST_PATH_PREPARE = False uses Django's ordinary cursor instead (e.g.
behind a pooler in transaction mode, where prepared statements do not survive).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from core.fast_sql import prepared_cursor
from ledger.models import Transfer
from ledger.requests import ValidRequest

# The SQLSTATE of a refusal raised by ledger_refuse(): MESSAGE = the error code, DETAIL = JSON
# details with the 0-based "index" of the refused request.
REFUSAL_SQLSTATE = "LG001"
_FIELDS = [field.attname for field in Transfer._meta.concrete_fields]
_SINGLE_SQL = (
    "SELECT -1, * FROM ledger_create_transfer("
    "%s::uuid, %s::text, %s::bigint, %s::bigint, %s::bigint, %s::text, %s::uuid, %s::bigint, "
    "%s::text, %s::text, %s::jsonb)"
)
_BATCH_SQL = "SELECT * FROM ledger_create_transfers(%s::jsonb, %s::uuid)"


class Refusal(Exception):
    """A request of the batch was refused: (0-based index, error code, details)."""

    def __init__(self, index: int, code: str, detail: dict[str, Any]) -> None:
        super().__init__(code)
        self.index = index
        self.code = code
        self.detail = detail


def _call(conn, requests: list[ValidRequest], batch_id: uuid.UUID | None) -> list[tuple]:
    cursor, close = prepared_cursor(conn)
    try:
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
    finally:
        if close:
            cursor.close()


def post_transfers(requests: list[ValidRequest], batch_id: uuid.UUID | None) -> list[Transfer]:
    """Apply the requests all or none; raise Refusal for the first one refused."""
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


def post_query(select_sql: str, params: list[Any] | tuple, batch_id: uuid.UUID) -> int:
    """Apply, as one linked batch, the transfers a SELECT describes (one row per transfer, columns
    named as ValidRequest.as_json()'s keys); return how many (replays included). Refusals raise
    Refusal as for post_transfers. The SELECT builds the batch inside the server, so a job that
    moves many balances at once makes one round trip, not one per row."""
    # The SELECT is the calling module's constant text; every value in it is a parameter.
    sql = (
        "SELECT count(*) FROM ledger_create_transfers("  # noqa: S608
        f"(SELECT coalesce(jsonb_agg(to_jsonb(q)), '[]'::jsonb) FROM ({select_sql}) q), %s::uuid)"
    )
    conn = connections[DEFAULT_DB_ALIAS]
    try:
        with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
            cursor.execute(sql, [*params, batch_id])
            (count,) = cursor.fetchone()
    except DatabaseError as exc:
        cause = exc.__cause__
        if getattr(cause, "sqlstate", None) != REFUSAL_SQLSTATE:
            raise
        detail = json.loads(cause.diag.message_detail)
        raise Refusal(detail.pop("index"), cause.diag.message_primary, detail) from None
    return count
