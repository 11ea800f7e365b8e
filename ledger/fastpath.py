"""The PostgreSQL fast path: one call of ledger_create_transfers() per transfer or batch.

Outside a transaction the call is its own transaction: one round trip, durable on return. Inside
the caller's transaction it runs in a savepoint so that a refusal leaves the caller's work intact.
"""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from ledger.models import Transfer
from ledger.posting import Refusal
from ledger.requests import ValidRequest

REFUSAL_SQLSTATE = "LG001"
_FIELDS = [field.attname for field in Transfer._meta.concrete_fields]


def fast_path_enabled() -> bool:
    return connection.vendor == "postgresql" and getattr(settings, "LEDGER_FAST_PATH", True)


def _call(payload: str, batch_id: uuid.UUID | None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM ledger_create_transfers(%s::jsonb, %s::uuid)", [payload, batch_id]
        )
        return cursor.fetchall()


def post_transfers_fast(requests: list[ValidRequest], batch_id: uuid.UUID | None) -> list[Transfer]:
    payload = json.dumps([request.as_json() for request in requests], separators=(",", ":"))
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                rows = _call(payload, batch_id)
        else:
            rows = _call(payload, batch_id)
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
        transfers.append(
            Transfer.from_db(connection.alias, _FIELDS, [values[name] for name in _FIELDS])
        )
    return transfers
