"""Idempotency keys: claim, complete, release, expire. The HTTP side is core.api.idempotency.

A key is claimed by inserting its row (status in_flight) and committing before the request runs; the
UNIQUE constraint on scope_digest makes exactly one of any number of concurrent claims win. The
winner also holds a session advisory lock for the key on its connection while it runs, so a claim
whose request died (its connection gone, and the lock with it) is taken over by the next retry at
once. The winner stores its response (complete) or deletes the row (release), so the key can be
retried, and frees the lock.
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


def lock_id(digest: str) -> int:
    """The claim's PostgreSQL advisory lock: a signed 64-bit number from the scope digest."""
    return int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)


# A claim is the row AND a session advisory lock on lock_id(digest), held by the claimant's
# connection until its answer is stored or the claim released. If the claimant dies (process
# killed, connection terminated), PostgreSQL drops the lock with its session at once: a retry that
# finds the row in flight but the lock free takes the claim over, within seconds instead of after a
# fixed lease. (Session locks need a session: behind a pooler in transaction mode they do not hold.)
_CLAIM_COLUMNS = (
    "INSERT INTO core_idempotencykey (scope_digest, key, principal, method, path, request_fingerprint, "
    "status, response_body, response_headers, created_at, locked_at) "
)
_CLAIM_ROW = "%s, %s, %s, %s, %s, %s, 'in_flight', '\\x'::bytea, '{}'::jsonb, %s, %s"
_CLAIM_CONFLICT = "ON CONFLICT (scope_digest) DO NOTHING RETURNING id"
_LOCK_CTE = "WITH claim_lock AS MATERIALIZED (SELECT pg_try_advisory_lock(%s) AS held)"
_CLAIM_RESULT = "SELECT (SELECT held FROM claim_lock), (SELECT id FROM claimed)"
# PostgreSQL: the lock and the claim are one prepared statement (every API write pays it), and so
# is the answer; ON CONFLICT leaves a taken key to the lookup below, with no error and no savepoint.
_CLAIM_SQL = (
    f"{_LOCK_CTE}, claimed AS ({_CLAIM_COLUMNS} SELECT {_CLAIM_ROW} FROM claim_lock "  # noqa: S608
    f"WHERE claim_lock.held {_CLAIM_CONFLICT}) {_CLAIM_RESULT}"
)
# In autocommit the claim need not wait for its WAL flush: the request's first durable step (the
# payment's start, its answer) commits synchronously and flushes it; a claim lost in a crash
# before that means nothing it guarded became durable either, so a retry rightly runs afresh.
# Concurrent requests see it at once all the same (visibility does not wait for the flush).
_CLAIM_ASYNC_SQL = (
    f"{_LOCK_CTE}, claimed AS ({_CLAIM_COLUMNS} SELECT {_CLAIM_ROW} "  # noqa: S608
    f"FROM claim_lock, {ASYNC_COMMIT} WHERE claim_lock.held {_CLAIM_CONFLICT}) {_CLAIM_RESULT}"
)
# The answer and the unlock in one statement. The lock goes before the statement commits, but a
# retry that takes the key over waits on this row (its UPDATE ... WHERE status = 'in_flight') and
# then sees the committed answer: nothing runs twice.
_COMPLETE_SQL = (
    "WITH done AS (UPDATE core_idempotencykey SET status = 'completed', response_status = %s, "
    "response_body = %s, response_headers = %s::jsonb, completed_at = %s "
    "WHERE id = %s AND status = 'in_flight' AND locked_at = %s RETURNING 1) "
    "SELECT (SELECT count(*) FROM done), pg_advisory_unlock(%s)"
)
_RELEASE_SQL = (
    "WITH gone AS (DELETE FROM core_idempotencykey "
    "WHERE id = %s AND status = 'in_flight' AND locked_at = %s RETURNING 1) "
    "SELECT (SELECT count(*) FROM gone), pg_advisory_unlock(%s)"
)
_TAKE_OVER_SQL = (
    "UPDATE core_idempotencykey SET locked_at = %s "
    "WHERE id = %s AND status = 'in_flight' RETURNING locked_at"
)


def _held_locks() -> set[int]:
    """The claim locks this connection holds. Session locks are re-entrant: without this, a second
    claim on the claimant's own connection would take its own running claim over."""
    raw = connection.connection
    held = getattr(connection, "_idempotency_locks", None)
    if held is None or held[0] is not raw:
        held = (raw, set())
        connection._idempotency_locks = held
    return held[1]


def _unlock(lock: int) -> None:
    fetch_all("SELECT pg_advisory_unlock(%s)", [lock])
    _held_locks().discard(lock)


def _insert_claim(fields: dict, lock: int) -> tuple[bool, IdempotencyKey | None]:
    """Take the lock and insert the in-flight row: (lock taken, the row, or None when the key
    exists). With the lock busy (a live claimant) nothing is inserted."""
    rows = fetch_all(
        _CLAIM_SQL if connection.in_atomic_block else _CLAIM_ASYNC_SQL,
        [
            lock,
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
    held, record_id = rows[0]
    if held:
        _held_locks().add(lock)
    if record_id is None:
        return bool(held), None
    record = IdempotencyKey(id=record_id, **fields)
    record._state.adding = False
    record._state.db = connection.alias
    return True, record


def idempotency_key_claim(
    *, key: str, principal: str, method: str, path: str, fingerprint: str
) -> ClaimResult:
    """Claim the key for this request, or say why not (replay, reused, in flight)."""
    digest = scope_digest(principal=principal, method=method, path=path, key=key)
    lock = lock_id(digest)
    for _attempt in range(MAX_CLAIM_ATTEMPTS):
        now = timezone.now()
        if lock in _held_locks():
            held = False  # this connection's own claim, still running
        else:
            # Committed at once (autocommit): concurrent requests must see the claim.
            held, record = _insert_claim(
                {
                    "scope_digest": digest,
                    "key": key,
                    "principal": principal,
                    "method": method,
                    "path": path,
                    "request_fingerprint": fingerprint,
                    "created_at": now,
                    "locked_at": now,
                },
                lock,
            )
            if record is not None:
                return Claimed(record)
        outcome = _existing(digest, fingerprint, now, held=held, lock=lock)
        if outcome is not None:
            return outcome
    return InFlight()


def _existing(
    digest: str, fingerprint: str, now: datetime, *, held: bool, lock: int
) -> ClaimResult | None:
    """The key is taken: what its row says (`held`: we hold its lock). None: look again."""
    existing = IdempotencyKey.objects.filter(scope_digest=digest).first()
    outcome: ClaimResult | None = None
    if existing is None:
        pass  # released between our insert and this read: try again
    elif _expired(existing, now):
        IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
    elif existing.request_fingerprint != fingerprint:
        outcome = Reused()
    elif existing.status == IdempotencyKey.Status.COMPLETED:
        outcome = Replay(existing)
    elif not held:
        outcome = InFlight()  # its claimant's connection holds the lock: it is still running
    else:
        # In flight, yet nobody held its lock: the claimant died mid-request (its session, and
        # with it the lock, is gone). We hold the lock now: this request runs again.
        taken = fetch_all(_TAKE_OVER_SQL, [now, existing.pk])
        if taken:
            logger.warning("idempotency key %s taken over after its request died", existing.pk)
            existing.locked_at = taken[0][0]
            return Claimed(existing)
        # Completed or released while we looked: read it again.
    if held:
        _unlock(lock)
    return outcome


def idempotency_key_complete(
    *, record: IdempotencyKey, status: int, body: bytes, headers: dict[str, str]
) -> bool:
    """Store the final answer for replays and free the claim's lock. False if the claim was lost
    meanwhile (taken over after this connection died)."""
    lock = lock_id(record.scope_digest)
    rows = fetch_all(
        _COMPLETE_SQL,
        [status, body, json.dumps(headers), timezone.now(), record.pk, record.locked_at, lock],
    )
    _held_locks().discard(lock)
    return rows[0][0] == 1


def idempotency_key_release(*, record: IdempotencyKey) -> None:
    """Forget the claim: the answer is not final (5xx, 401, 403, 429) and the key may be retried."""
    lock = lock_id(record.scope_digest)
    fetch_all(_RELEASE_SQL, [record.pk, record.locked_at, lock])
    _held_locks().discard(lock)


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
