"""A transfer's canonical bytes: what its log leaf commits to.

Every field that gives a transfer its meaning is in, so that changing any of them after the transfer
was logged (say, a raw SQL UPDATE of its amount) changes the leaf hash and ledger_verify names it.
Accounts appear by id: ids are immutable, while codes are only labels.

Format version 1: core.canonical.canonical_json (JCS-compatible: keys sorted, no whitespace, UTF-8)
of this object, which `canonical_dict` spells out:
    {"v": 1, "id": "<uuid>", "kind": "posted|pending|post_pending|void_pending",
     "debit_account_id": int, "credit_account_id": int, "amount_minor": int, "currency": "EUR",
     "pending_id": "<uuid>"|null, "timeout_at": "<UTC ISO>"|null, "batch_id": "<uuid>"|null,
     "reason": str, "reference": str, "metadata": {...}, "created_at": "<UTC ISO>"}
Times are UTC with microseconds always: "2026-01-31T12:00:00.123456Z". Metadata must be what
canonical JSON accepts (no floats, integers within +/-(2**53 - 1)); the posting service checks it.

Sealing and verifying render this for every transfer, so `_render` writes the same bytes directly
instead of going through a dict (about three times faster); tests hold it equal to
canonical_json(canonical_dict(...)) over random values.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import TYPE_CHECKING

from core.canonical import MAX_SAFE_INTEGER, canonical_json
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


def canonical_dict(values: Sequence) -> dict:
    """The version 1 object of a transfer, from a row of CANONICAL_FIELDS values (the spec)."""
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
    return {
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


def _int(value) -> str:
    # canonical_json's rules for integers: no bools, nothing JavaScript cannot hold exactly.
    if type(value) is not int:
        raise TypeError(f"expected an integer, not {type(value).__name__}")
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise ValueError(f"canonical JSON refuses integers beyond +/-{MAX_SAFE_INTEGER}")
    return int.__repr__(value)


def _str(value) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, not {type(value).__name__}")
    # The very function json.JSONEncoder(ensure_ascii=False) uses, hence canonical_json too.
    return encode_basestring(value)


def _optional_str(value) -> str:
    return "null" if value is None else _str(value)


def _render(
    transfer_id: str,
    kind: str,
    debit_account_id: int,
    credit_account_id: int,
    amount_minor: int,
    currency: str,
    pending_id: str | None,
    timeout_at: str | None,
    batch_id: str | None,
    reason: str,
    reference: str,
    metadata_json: str,
    created_at: str,
) -> bytes:
    # Keys in canonical (UTF-16 code unit) order; all ASCII, so plain byte order.
    text = "".join(
        (
            '{"amount_minor":',
            _int(amount_minor),
            ',"batch_id":',
            _optional_str(batch_id),
            ',"created_at":',
            _str(created_at),
            ',"credit_account_id":',
            _int(credit_account_id),
            ',"currency":',
            _str(currency),
            ',"debit_account_id":',
            _int(debit_account_id),
            ',"id":',
            _str(transfer_id),
            ',"kind":',
            _str(kind),
            ',"metadata":',
            metadata_json,
            ',"pending_id":',
            _optional_str(pending_id),
            ',"reason":',
            _str(reason),
            ',"reference":',
            _str(reference),
            ',"timeout_at":',
            _optional_str(timeout_at),
            ',"v":1}',
        )
    )
    # Strict UTF-8: a lone surrogate raises (UnicodeEncodeError is a ValueError), as in
    # canonical_json.
    return text.encode("utf-8")


def _metadata_json(metadata) -> str:
    if metadata == {}:
        return "{}"
    return canonical_json(metadata).decode("utf-8")


def canonical_values(values: Sequence) -> bytes:
    """Canonical bytes from a row of CANONICAL_FIELDS values (ORM .values_list or a model)."""
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
    return _render(
        str(transfer_id),
        kind,
        debit_account_id,
        credit_account_id,
        amount_minor,
        currency,
        _uuid_text(pending_id),
        format_time(timeout_at),
        _uuid_text(batch_id),
        reason,
        reference,
        _metadata_json(metadata),
        format_time(created_at),
    )


def transfer_canonical_bytes(transfer: Transfer) -> bytes:
    return canonical_values([getattr(transfer, field) for field in CANONICAL_FIELDS])


def transfer_leaf_hash(transfer: Transfer) -> bytes:
    """The RFC 6962 leaf hash of the transfer's canonical bytes."""
    return leaf_hash(transfer_canonical_bytes(transfer))


# --- The PostgreSQL fast path ---------------------------------------------------------------------
# PostgreSQL renders ids and times as text, which skips building UUID and datetime objects only
# to print them again; the bytes are the same as canonical_values() makes (tested on PostgreSQL).

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
    metadata = values[11]
    return _render(
        *values[:11],
        "{}" if metadata == "{}" else _metadata_json(json.loads(metadata)),
        values[12],
    )
