"""Idempotency keys: claim, complete, release, expire. The HTTP side is core.api.idempotency.

A key is claimed by inserting its row (status in_flight) and committing before the request runs; the
UNIQUE constraint on scope_digest makes exactly one of any number of concurrent claims win. The
winner stores its response (complete) or deletes the row (release) so the key can be retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.fast_sql import ASYNC_COMMIT, fetch_all
from core.models import IdempotencyKey

logger = logging.getLogger(__name__)

# Claims that keep colliding with rows that vanish (released or expired meanwhile) give up after this.
MAX_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class Claimed:
    record: IdempotencyKey


@dataclass(frozen=True)
class Replay:
    record: IdempotencyKey


@dataclass(frozen=True)
class Reused:
    """The key was first used with another request."""


@dataclass(frozen=True)
class InFlight:
    """The first request with this key has not finished."""


ClaimResult = Claimed | Replay | Reused | InFlight


def scope_digest(*, principal: str, method: str, path: str, key: str) -> str:
    # Length-prefixed parts, so no two different tuples give the same input.
    parts = [principal, method, path, key]
    data = "".join(f"{len(part)}:{part};" for part in parts).encode()
    return hashlib.sha256(data).hexdigest()


def request_fingerprint(*, method: str, full_path: str, body: bytes) -> str:
    # Keyed (HMAC under a key derived from SECRET_KEY): a request body may carry a card number,
    # and a plain hash of it could be brute-forced from the brand and last four digits.
    digest = hmac.new(
        hashlib.sha256(
            b"clearhouse.idempotency.fingerprint:" + settings.SECRET_KEY.encode()
        ).digest(),
        digestmod=hashlib.sha256,
    )
    for part in (method.encode(), full_path.encode(), body):
        digest.update(f"{len(part)}:".encode())
        digest.update(part)
    return digest.hexdigest()


def _expired(record: IdempotencyKey, now: datetime) -> bool:
    return record.created_at <= now - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_S)


def _abandoned(record: IdempotencyKey, now: datetime) -> bool:
    return record.locked_at <= now - timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_S)


# PostgreSQL: the claim and the answer are one prepared statement each (every API write pays
# them); ON CONFLICT leaves a taken key to the lookup below, with no error and no savepoint.
_CLAIM_COLUMNS = (
    "INSERT INTO core_idempotencykey (scope_digest, key, principal, method, path, request_fingerprint, "
    "status, response_body, response_headers, created_at, locked_at) "
)
_CLAIM_ROW = "%s, %s, %s, %s, %s, %s, 'in_flight', '\\x'::bytea, '{}'::jsonb, %s, %s"
_CLAIM_CONFLICT = "ON CONFLICT (scope_digest) DO NOTHING RETURNING id"
_CLAIM_SQL = f"{_CLAIM_COLUMNS}VALUES ({_CLAIM_ROW}) {_CLAIM_CONFLICT}"
# In autocommit the claim need not wait for its WAL flush: the request's first durable step (the
# payment's start, its answer) commits synchronously and flushes it; a claim lost in a crash
# before that means nothing it guarded became durable either, so a retry rightly runs afresh.
# Concurrent requests see it at once all the same (visibility does not wait for the flush).
_CLAIM_ASYNC_SQL = f"{_CLAIM_COLUMNS} SELECT {_CLAIM_ROW} FROM {ASYNC_COMMIT} {_CLAIM_CONFLICT}"  # noqa: S608
_COMPLETE_SQL = (
    "UPDATE core_idempotencykey SET status = 'completed', response_status = %s, response_body = %s, "
    "response_headers = %s::jsonb, completed_at = %s "
    "WHERE id = %s AND status = 'in_flight' AND locked_at = %s RETURNING 1"
)


def _insert_claim(fields: dict) -> IdempotencyKey | None:
    """Insert the in-flight row; None when the scope's key already exists."""
    rows = fetch_all(
        _CLAIM_SQL if connection.in_atomic_block else _CLAIM_ASYNC_SQL,
        [
            fields["scope_digest"],
            fields["key"],
            fields["principal"],
            fields["method"],
            fields["path"],
            fields["request_fingerprint"],
            fields["created_at"],
            fields["locked_at"],
        ],
    )
    if not rows:
        return None
    record = IdempotencyKey(id=rows[0][0], **fields)
    record._state.adding = False
    record._state.db = connection.alias
    return record


def idempotency_key_claim(
    *, key: str, principal: str, method: str, path: str, fingerprint: str
) -> ClaimResult:
    """Claim the key for this request, or say why not (replay, reused, in flight)."""
    digest = scope_digest(principal=principal, method=method, path=path, key=key)
    for _attempt in range(MAX_CLAIM_ATTEMPTS):
        now = timezone.now()
        # Committed at once (autocommit): concurrent requests must see the claim.
        record = _insert_claim(
            {
                "scope_digest": digest,
                "key": key,
                "principal": principal,
                "method": method,
                "path": path,
                "request_fingerprint": fingerprint,
                "created_at": now,
                "locked_at": now,
            }
        )
        if record is not None:
            return Claimed(record)
        existing = IdempotencyKey.objects.filter(scope_digest=digest).first()
        if existing is None:
            continue  # released between our insert and this read: try again
        if _expired(existing, now):
            IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.request_fingerprint != fingerprint:
            return Reused()
        if existing.status == IdempotencyKey.Status.COMPLETED:
            return Replay(existing)
        if _abandoned(existing, now):
            # The process that claimed it died mid-request; one request (the UPDATE decides) runs again.
            taken = IdempotencyKey.objects.filter(
                pk=existing.pk,
                status=IdempotencyKey.Status.IN_FLIGHT,
                locked_at=existing.locked_at,
            ).update(locked_at=now)
            if taken:
                logger.warning("idempotency key %s taken over after its request died", existing.pk)
                existing.locked_at = now
                return Claimed(existing)
            continue
        return InFlight()
    return InFlight()


def _owned(record: IdempotencyKey):
    return IdempotencyKey.objects.filter(
        pk=record.pk, status=IdempotencyKey.Status.IN_FLIGHT, locked_at=record.locked_at
    )


def idempotency_key_complete(
    *, record: IdempotencyKey, status: int, body: bytes, headers: dict[str, str]
) -> bool:
    """Store the final answer for replays. False if the claim was lost meanwhile (taken over)."""
    rows = fetch_all(
        _COMPLETE_SQL,
        [status, body, json.dumps(headers), timezone.now(), record.pk, record.locked_at],
    )
    return len(rows) == 1


def idempotency_key_release(*, record: IdempotencyKey) -> None:
    """Forget the claim: the answer is not final (5xx, 401, 403, 429) and the key may be retried."""
    _owned(record).delete()


def idempotency_keys_delete_expired(
    *, now: datetime | None = None, batch_size: int = 5000, max_batches: int = 200
) -> int:
    """Delete keys older than IDEMPOTENCY_KEY_TTL_S, in bounded batches; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_S)
    deleted = 0
    for _batch in range(max_batches):
        ids = list(
            IdempotencyKey.objects.filter(created_at__lte=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        deleted += IdempotencyKey.objects.filter(pk__in=ids, created_at__lte=cutoff).delete()[0]
    return deleted
