"""Records in the ledger's log: another app's bytes, appended beside the transfers so that the
next seal covers them (the leaf: ledger/canonical_record.py). The ledger never reads them.

    log_record_append(record_id=..., kind="receipt", payload=b"...")   in the caller's transaction
    ledger.seals.ledger_seal()          appends queued records after queued transfers, then seals
    ledger.seals.record_inclusion_proof(record_id, seal)
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import transaction
from django.utils import timezone

from ledger.canonical_record import KIND_RE, MAX_PAYLOAD_BYTES
from ledger.errors import InvalidRecord, RecordExists
from ledger.models import LogRecord, LogRecordQueue


def log_record_append(
    *,
    record_id: uuid.UUID,
    kind: str,
    payload: bytes,
    created_at: dt.datetime | None = None,
) -> LogRecord:
    """Queue a record for the log, in the caller's transaction; return it.

    Idempotent on record_id: the same kind and payload again returns the existing record (queued
    or logged); another kind or payload raises RecordExists and writes nothing.
    """
    if not isinstance(kind, str) or not KIND_RE.fullmatch(kind):
        raise InvalidRecord("A record kind is [a-z][a-z0-9_.]{0,63}.", field="kind")
    if not isinstance(payload, bytes):
        raise InvalidRecord("A record's payload is bytes.", field="payload")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidRecord(
            f"A record's payload is at most {MAX_PAYLOAD_BYTES} bytes.", field="payload"
        )
    with transaction.atomic():
        record, created = LogRecord.objects.get_or_create(
            id=record_id,
            defaults={"kind": kind, "payload": payload, "created_at": created_at or timezone.now()},
        )
        if not created:
            if record.kind != kind or bytes(record.payload) != payload:
                raise RecordExists(
                    f"log record {record_id} already exists with another kind or payload",
                    field="id",
                )
            return record
        LogRecordQueue.objects.create(record=record)
    return record
