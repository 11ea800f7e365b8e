"""A transfer's canonical bytes: what its log leaf commits to.

Every field that gives a transfer its meaning is in, so that changing any of them after the transfer
was logged (say, a raw SQL UPDATE of its amount) changes the leaf hash and ledger_verify names it.
Accounts appear by id: ids are immutable, while codes are only labels.

Format version 1 (canonical JSON, core.canonical: sorted keys, no whitespace, UTF-8):
    {"v": 1, "id": "<uuid>", "kind": "posted|pending|post_pending|void_pending",
     "debit_account_id": int, "credit_account_id": int, "amount_minor": int, "currency": "EUR",
     "pending_id": "<uuid>"|null, "timeout_at": "<UTC ISO>"|null, "batch_id": "<uuid>"|null,
     "reason": str, "reference": str, "metadata": {...}, "created_at": "<UTC ISO>"}
Times are UTC with microseconds: "2026-01-31T12:00:00.123456Z". Metadata must be JSON without floats
(canonical JSON refuses floats); the posting service is where that is enforced.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.canonical import canonical_json
from ledger.merkle import leaf_hash

if TYPE_CHECKING:
    from ledger.models import Transfer

TRANSFER_FORMAT_VERSION = 1

# The Transfer columns, in this order, that canonical_values() takes (for .values_list()).
CANONICAL_FIELDS: tuple[str, ...] = (
    "id",
    "kind",
    "debit_account_id",
    "credit_account_id",
    "amount_minor",
    "currency",
    "pending_id",
    "timeout_at",
    "batch_id",
    "reason",
    "reference",
    "metadata",
    "created_at",
)

_UTC = dt.UTC


def format_time(value: dt.datetime | None) -> str | None:
    """UTC ISO 8601 with microseconds and a Z; None stays None. Naive times are refused."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("a naive datetime has no place in the ledger")
    return value.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _uuid_text(value) -> str | None:
    return None if value is None else str(value)


def canonical_values(values: Sequence) -> bytes:
    """Canonical bytes from a row of CANONICAL_FIELDS values (the fast path for many transfers)."""
    (
        transfer_id,
        kind,
        debit_account_id,
        credit_account_id,
        amount_minor,
        currency,
        pending_id,
        timeout_at,
        batch_id,
        reason,
        reference,
        metadata,
        created_at,
    ) = values
    return canonical_json(
        {
            "v": TRANSFER_FORMAT_VERSION,
            "id": str(transfer_id),
            "kind": kind,
            "debit_account_id": debit_account_id,
            "credit_account_id": credit_account_id,
            "amount_minor": amount_minor,
            "currency": currency,
            "pending_id": _uuid_text(pending_id),
            "timeout_at": format_time(timeout_at),
            "batch_id": _uuid_text(batch_id),
            "reason": reason,
            "reference": reference,
            "metadata": metadata,
            "created_at": format_time(created_at),
        }
    )


def transfer_canonical_bytes(transfer: Transfer) -> bytes:
    return canonical_values([getattr(transfer, field) for field in CANONICAL_FIELDS])


def transfer_leaf_hash(transfer: Transfer) -> bytes:
    """The RFC 6962 leaf hash of the transfer's canonical bytes."""
    return leaf_hash(transfer_canonical_bytes(transfer))


# --- The PostgreSQL fast path ---------------------------------------------------------------------
# Sealing and verifying read transfers by the hundred thousand. Letting PostgreSQL render ids and
# times as text skips building UUID and datetime objects only to print them again; the bytes are
# the same as canonical_values() makes (tests compare the two on PostgreSQL).

_PG_TIME_FORMAT = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''


def pg_canonical_columns(alias: str) -> str:
    """SELECT list, for table alias `alias`, of what canonical_text_values() takes."""

    def time_text(column: str) -> str:
        return f"to_char({alias}.{column} AT TIME ZONE 'UTC', {_PG_TIME_FORMAT})"

    return ", ".join(
        [
            f"{alias}.id::text",
            f"{alias}.kind",
            f"{alias}.debit_account_id",
            f"{alias}.credit_account_id",
            f"{alias}.amount_minor",
            f"{alias}.currency",
            f"{alias}.pending_id::text",
            time_text("timeout_at"),
            f"{alias}.batch_id::text",
            f"{alias}.reason",
            f"{alias}.reference",
            f"{alias}.metadata::text",
            time_text("created_at"),
        ]
    )


def canonical_text_values(values: Sequence) -> bytes:
    """Canonical bytes from a row of pg_canonical_columns()."""
    (
        transfer_id,
        kind,
        debit_account_id,
        credit_account_id,
        amount_minor,
        currency,
        pending_id,
        timeout_at,
        batch_id,
        reason,
        reference,
        metadata,
        created_at,
    ) = values
    return canonical_json(
        {
            "v": TRANSFER_FORMAT_VERSION,
            "id": transfer_id,
            "kind": kind,
            "debit_account_id": debit_account_id,
            "credit_account_id": credit_account_id,
            "amount_minor": amount_minor,
            "currency": currency,
            "pending_id": pending_id,
            "timeout_at": timeout_at,
            "batch_id": batch_id,
            "reason": reason,
            "reference": reference,
            "metadata": json.loads(metadata),
            "created_at": created_at,
        }
    )
