"""Sealing the ledger: the append-only log of transfers, signed tree heads, and their proofs.

Posting a transfer inserts a LogQueue row in the posting's own transaction and never waits for
this module. The sealer, alone under one global lock (a PostgreSQL advisory transaction lock),
moves queued transfers into LogEntry
with the next dense indexes, ordered by (created_at, id) within a batch, then the queued records
(ledger.records: other apps' bytes, such as receipts, with their own leaf encoding) the same way,
then signs a Seal over the RFC 6962 root of the whole log. The lock is the only one the sealer
takes besides the rows it writes (and a share lock on its key's published row, which only a key
rotation waits for), and posting never takes it, so a seal in progress does not hold up a posting.

A tree head is canonical JSON, signed with the platform's Ed25519 key:
    {"v": 1, "type": "clearhouse.ledger.tree_head", "tree_size": n, "root_hash": "<hex>",
     "sealed_at": "<UTC ISO>", "previous_hash": "<hex>"}
previous_hash is SHA-256 of the previous seal's head bytes (32 zero bytes for the first seal),
so the seals form a chain as well as a tree.

Subtree hashes come from the stored leaf hashes, streamed in index order. Complete aligned
subtrees of CACHE_MIN_SUBTREE leaves or more are also remembered in the Django cache, so that a
seal costs O(new leaves + log n) and a proof O(log n) on a warm cache. The cache is never
trusted: a seal first checks that the cached frontier folds to the previous signed root, a proof
is checked against its seal's root, and either falls back to the leaves when that fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from core import crypto, signing_keys
from core.canonical import canonical_json
from core.errors import Conflict, IntegrityViolation, NotFound
from ledger import merkle
from ledger.canonical_record import record_leaf_hash
from ledger.canonical_transfer import (
    canonical_text_values,
    format_time,
    pg_canonical_columns,
    transfer_canonical_bytes,
)
from ledger.models import LogEntry, LogQueue, LogRecord, LogRecordQueue, Seal, Transfer

logger = logging.getLogger(__name__)

TREE_HEAD_VERSION = 1
GENESIS_PREVIOUS_HASH = bytes(32)
# Any constant works as long as nothing else uses it: "LEDGSEAL" as a signed 64-bit integer.
SEAL_LOCK_KEY = int.from_bytes(b"LEDGSEAL", "big") & 0x7FFF_FFFF_FFFF_FFFF
APPEND_BATCH_SIZE = 5_000
MAX_APPEND_BATCH_SIZE = 50_000
# One seal run appends at most this many batches; the rest waits for the next run.
MAX_APPEND_BATCHES_PER_SEAL = 100
# Records are at most canonical_record.MAX_PAYLOAD_BYTES each: a batch reads a bounded amount.
RECORD_APPEND_BATCH_SIZE = 200
LEAF_READ_CHUNK = 20_000
CACHE_MIN_SUBTREE = 1024
CACHE_TIMEOUT_S = 30 * 24 * 3600
_CACHE_PREFIX = "ledger:mth:v1"


class LogIntegrityError(IntegrityViolation):
    """The stored log does not agree with its seals; run manage.py ledger_verify."""

    code = "ledger_log_integrity"


class NotYetSealed(Conflict):
    """The transfer is not in the sealed log yet."""

    code = "ledger_not_yet_sealed"


class SealNotFound(NotFound):
    """No such seal."""

    code = "ledger_seal_not_found"


@dataclass(frozen=True)
class InclusionProof:
    transfer_id: uuid.UUID
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: list[bytes]


@dataclass(frozen=True)
class RecordInclusionProof:
    record_id: uuid.UUID
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: list[bytes]


# --- Tree heads ---------------------------------------------------------------------------------


def tree_head_bytes(
    *, tree_size: int, root_hash: bytes, sealed_at: dt.datetime, previous_hash: bytes
) -> bytes:
    """The exact bytes a seal signs."""
    return canonical_json(
        {
            "v": TREE_HEAD_VERSION,
            "type": merkle.TREE_HEAD_TYPE,
            "tree_size": tree_size,
            "root_hash": bytes(root_hash).hex(),
            "sealed_at": format_time(sealed_at),
            "previous_hash": bytes(previous_hash).hex(),
        }
    )


def seal_head_bytes(seal: Seal) -> bytes:
    return tree_head_bytes(
        tree_size=seal.tree_size,
        root_hash=bytes(seal.root_hash),
        sealed_at=seal.sealed_at,
        previous_hash=bytes(seal.previous_hash),
    )


def seal_head_hash(seal: Seal) -> bytes:
    """What the next seal's previous_hash must be."""
    return hashlib.sha256(seal_head_bytes(seal)).digest()


def verify_seal_signature(seal: Seal, public_pem: str | None = None) -> bool:
    """True when the seal's signature verifies over its head bytes.

    Without public_pem the platform key is used, and a seal naming another key id fails.
    """
    if public_pem is None and seal.key_id != crypto.platform_key_id():
        return False
    try:
        crypto.platform_verify(seal_head_bytes(seal), bytes(seal.signature), public_pem=public_pem)
    except crypto.CryptoError:
        return False
    return True


# --- Appending ----------------------------------------------------------------------------------


def _lock_log() -> None:
    """Take the one sealer lock for the rest of the current transaction."""
    assert connection.in_atomic_block, "the sealer lock lives in a transaction"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])


def log_size() -> int:
    """The number of entries in the log (indexes are dense from 0)."""
    last = LogEntry.objects.aggregate(last=Max("index"))["last"]
    return 0 if last is None else last + 1


def ledger_append_queued(*, limit: int = APPEND_BATCH_SIZE) -> int:
    """Move up to `limit` queued transfers into the log, in one transaction; return how many."""
    return _append_batch(limit, after=None)[0]


def ledger_append_all_queued(
    *, batch_size: int = APPEND_BATCH_SIZE, max_batches: int | None = None
) -> int:
    """Append queued transfers batch after batch (each batch commits on its own) until the queue
    is empty or `max_batches` ran; return how many.

    Each batch starts where the previous one ended, so a big backlog is sorted once, not once per
    batch (calling ledger_append_queued in a loop rescans what was already appended: quadratic).
    """
    total, after, batches = 0, None, 0
    while max_batches is None or batches < max_batches:
        appended, last = _append_batch(batch_size, after=after)
        batches += 1
        total += appended
        if appended == batch_size:
            after = last
        elif after is None:
            break
        else:
            # The run's last batch: one more from the start catches transfers that committed
            # late with an earlier created_at than the ones just appended.
            after = None
    return total


def _append_batch(limit: int, *, after: tuple | None) -> tuple[int, tuple | None]:
    """Append the first `limit` queued transfers in (created_at, id) order, after `after` if given.

    Returns how many, and the (created_at, id) of the last one: the next batch of the same run
    starts there, so that a big backlog is not sorted again for every batch.
    """
    if not 1 <= limit <= MAX_APPEND_BATCH_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_APPEND_BATCH_SIZE}")
    with transaction.atomic():
        _lock_log()
        leaves, last = _queued_leaves(limit, after)
        if not leaves:
            return 0, None
        first_index = log_size()
        deleted = _write_entries(first_index, leaves)
        # Only the sealer deletes queue rows, and it holds the lock.
        assert deleted == len(leaves), (deleted, len(leaves))
    return len(leaves), last


def _write_entries(first_index: int, leaves: list[tuple[uuid.UUID, bytes]]) -> int:
    """COPY the new entries in and delete their queue rows; ORM inserts are the slow part here."""
    index = connection.ops.quote_name("index")
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY {LogEntry._meta.db_table} ({index}, transfer_id, leaf_hash) FROM STDIN"
        ) as copy:
            copy.set_types(["int8", "uuid", "bytea"])
            for offset, (transfer_id, value) in enumerate(leaves):
                copy.write_row((first_index + offset, transfer_id, value))
        cursor.execute(
            f"DELETE FROM {LogQueue._meta.db_table} WHERE transfer_id = ANY(%s)",  # noqa: S608
            [[transfer_id for transfer_id, _ in leaves]],
        )
        return cursor.rowcount


def _append_records(limit: int = RECORD_APPEND_BATCH_SIZE) -> int:
    """Move up to `limit` queued records into the log, in (created_at, id) order; return how many."""
    with transaction.atomic():
        _lock_log()
        queued = LogRecordQueue.objects.values("record_id")
        rows = list(
            LogRecord.objects.filter(id__in=queued)
            .order_by("created_at", "id")
            .values_list("id", "kind", "payload")[:limit]
        )
        if not rows:
            return 0
        first_index = log_size()
        LogEntry.objects.bulk_create(
            [
                LogEntry(
                    index=first_index + offset,
                    record_id=record_id,
                    leaf_hash=record_leaf_hash(kind, bytes(payload)),
                )
                for offset, (record_id, kind, payload) in enumerate(rows)
            ]
        )
        deleted, _ = LogRecordQueue.objects.filter(record_id__in=[row[0] for row in rows]).delete()
        # Only the sealer deletes queue rows, and it holds the lock.
        assert deleted == len(rows), (deleted, len(rows))
    return len(rows)


def _leaf_hash(render, row) -> bytes:
    try:
        return merkle.leaf_hash(render(row))
    except (TypeError, ValueError) as exc:
        # canonical JSON refuses floats, ints beyond 2**53 - 1 and lone surrogates: such a
        # transfer cannot be logged, and sealing stops here until someone looks.
        raise LogIntegrityError(f"transfer {row[0]}: cannot be put in the log ({exc})") from exc


def _queued_leaves(
    limit: int, after: tuple | None
) -> tuple[list[tuple[uuid.UUID, bytes]], tuple | None]:
    """The first `limit` queued transfers in (created_at, id) order with their leaf hashes, and
    the (created_at, id) of the last one."""
    transfers, queue = Transfer._meta.db_table, LogQueue._meta.db_table
    bound = "AND (t.created_at, t.id) > (%s::timestamptz, %s::uuid)" if after else ""
    # Table names come from the models; values go in as parameters.
    sql = f"""
SELECT {pg_canonical_columns("t")} FROM {transfers} t
WHERE t.id IN (SELECT transfer_id FROM {queue}) {bound}
ORDER BY t.created_at, t.id LIMIT %s"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*(after or ()), limit])
        rows = cursor.fetchall()
    leaves = [(uuid.UUID(row[0]), _leaf_hash(canonical_text_values, row)) for row in rows]
    # created_at is rendered as UTC ISO text, which PostgreSQL reads back exactly.
    return leaves, ((rows[-1][12], rows[-1][0]) if rows else None)


# --- Subtree hashes from the stored log ---------------------------------------------------------


class _LogTree:
    """MTHs of ranges of the stored log, from its leaf hashes, with an optional cache."""

    def __init__(self, *, use_cache: bool = True) -> None:
        self.use_cache = use_cache
        self._namespace: str | None = None
        self._found: dict[tuple[int, int], bytes] = {}

    def leaf_hashes(self, start: int, end: int) -> Iterator[bytes]:
        """The stored leaf hashes of [start, end), in index order, read in bounded chunks."""
        position = start
        while position < end:
            chunk_end = min(end, position + LEAF_READ_CHUNK)
            chunk = LogEntry.objects.filter(index__gte=position, index__lt=chunk_end).order_by(
                "index"
            )
            for index, value in chunk.values_list("index", "leaf_hash"):
                if index != position:
                    raise LogIntegrityError(f"log index {position} is missing")
                yield bytes(value)
                position += 1
            if position != chunk_end:
                raise LogIntegrityError(f"log index {position} is missing")

    def _key(self, start: int, size: int) -> str | None:
        if self._namespace is None:
            first = LogEntry.objects.filter(index=0).values_list("leaf_hash", flat=True).first()
            # Keyed by the first leaf too, so that caches never mix two different logs.
            self._namespace = "" if first is None else bytes(first).hex()[:32]
        if not self._namespace:
            return None
        return f"{_CACHE_PREFIX}:{self._namespace}:{start}:{size}"

    def remember(self, start: int, size: int, value: bytes) -> None:
        if size >= CACHE_MIN_SUBTREE and start % size == 0:
            self._found[(start, size)] = value

    def subtree_root(self, start: int, size: int) -> bytes:
        """MTH of the complete aligned subtree D[start:start+size]."""
        if self.use_cache and size >= CACHE_MIN_SUBTREE:
            key = self._key(start, size)
            try:
                cached = cache.get(key) if key else None
            except Exception:  # the cache is only a shortcut
                logger.warning("ledger subtree cache unavailable", exc_info=True)
                cached = None
            if isinstance(cached, bytes) and len(cached) == merkle.HASH_SIZE:
                return cached
        builder = merkle.TreeBuilder(
            start=start, on_subtree=self.remember, min_subtree_size=CACHE_MIN_SUBTREE
        )
        builder.extend(self.leaf_hashes(start, start + size))
        return builder.root()

    def range_root(self, start: int, end: int) -> bytes:
        return merkle.fold_right(
            [self.subtree_root(a, size) for a, size in merkle.perfect_subtrees(start, end)]
        )

    def frontier(self, tree_size: int) -> list[tuple[int, bytes]]:
        return [
            (size, self.subtree_root(a, size)) for a, size in merkle.perfect_subtrees(0, tree_size)
        ]

    def save_found(self) -> None:
        """Remember the complete subtrees computed here, once the transaction commits."""
        found, self._found = self._found, {}
        if not found:
            return
        values = {}
        for (start, size), value in found.items():
            key = self._key(start, size)
            if key:
                values[key] = value

        def write() -> None:
            try:
                cache.set_many(values, timeout=CACHE_TIMEOUT_S)
            except Exception:
                logger.warning("ledger subtree cache unavailable", exc_info=True)

        transaction.on_commit(write)


def _checked_frontier(last: Seal) -> tuple[_LogTree, list[tuple[int, bytes]]]:
    """The frontier of the last sealed tree, checked against its signed root."""
    expected = bytes(last.root_hash)
    for use_cache in (True, False):
        tree = _LogTree(use_cache=use_cache)
        frontier = tree.frontier(last.tree_size)
        if merkle.fold_right([value for _, value in frontier]) == expected:
            return tree, frontier
        if use_cache:
            logger.warning("ledger subtree cache disagreed with seal size=%s", last.tree_size)
    raise LogIntegrityError(
        f"seal size={last.tree_size} does not match the stored log; run manage.py ledger_verify"
    )


# --- Sealing ------------------------------------------------------------------------------------


def _sign(head: bytes) -> tuple[str, bytes]:
    return crypto.platform_sign(head)


def latest_seal() -> Seal | None:
    return Seal.objects.order_by("-tree_size").first()


def ledger_seal(
    *,
    now: dt.datetime | None = None,
    batch_size: int = APPEND_BATCH_SIZE,
    max_batches: int = MAX_APPEND_BATCHES_PER_SEAL,
) -> Seal | None:
    """Append what is queued, then sign a seal if the log grew; return it, or None.

    Idempotent: with nothing new in the log no seal is made. Each append batch commits on its own,
    so a crash loses nothing and the next run carries on.
    """
    ledger_append_all_queued(batch_size=batch_size, max_batches=max_batches)
    for _ in range(max_batches):
        if _append_records() < RECORD_APPEND_BATCH_SIZE:
            break
    with transaction.atomic():
        _lock_log()
        size = log_size()
        last = latest_seal()
        last_size = last.tree_size if last else 0
        if size == last_size:
            return None
        if size < last_size:
            raise LogIntegrityError(f"the log has {size} entries but seal size={last_size} exists")
        if last is None:
            tree, frontier, previous_hash = _LogTree(), [], GENESIS_PREVIOUS_HASH
        else:
            if last.key_id == crypto.platform_key_id() and not verify_seal_signature(last):
                raise LogIntegrityError(f"seal size={last.tree_size}: bad signature")
            tree, frontier = _checked_frontier(last)
            previous_hash = seal_head_hash(last)
        builder = merkle.TreeBuilder.from_frontier(
            frontier, on_subtree=tree.remember, min_subtree_size=CACHE_MIN_SUBTREE
        )
        builder.extend(tree.leaf_hashes(last_size, size))
        assert builder.count == size
        root = builder.root()
        sealed_at = now or timezone.now()
        if last is not None and sealed_at < last.sealed_at:
            sealed_at = last.sealed_at  # a clock that stepped back must not reorder the chain
        head = tree_head_bytes(
            tree_size=size, root_hash=root, sealed_at=sealed_at, previous_hash=previous_hash
        )
        # Published before it signs, so that verifiers find the key (and a retired one refuses).
        signing_keys.signing_key_for_signature(at=sealed_at)
        key_id, signature = _sign(head)
        seal = Seal.objects.create(
            tree_size=size,
            root_hash=root,
            sealed_at=sealed_at,
            previous_hash=previous_hash,
            key_id=key_id,
            signature=signature,
        )
        tree.save_found()
    logger.info("ledger sealed: size=%s", size)
    return seal


# --- Proofs -------------------------------------------------------------------------------------


def _log_position(transfer_id) -> tuple[int, bytes]:
    entry = LogEntry.objects.filter(transfer_id=transfer_id).values_list("index", "leaf_hash")
    row = entry.first()
    if row is None:
        if not Transfer.objects.filter(pk=transfer_id).exists():
            raise NotFound(f"no transfer {transfer_id}")
        raise NotYetSealed(f"transfer {transfer_id} is not in the log yet")
    return row[0], bytes(row[1])


def seal_for_transfer(transfer_id) -> Seal | None:
    """The latest seal, if it covers the transfer; None when it is not sealed yet."""
    seal = latest_seal()
    row = LogEntry.objects.filter(transfer_id=transfer_id).values_list("index", flat=True).first()
    if seal is None or row is None or row >= seal.tree_size:
        return None
    return seal


def _audit_path(index: int, stored_leaf_hash: bytes, seal: Seal) -> list[bytes]:
    """PATH(index, D[seal size]) from the stored log, checked against the seal's root."""
    ranges = merkle.inclusion_proof_ranges(index, seal.tree_size)
    for use_cache in (True, False):
        tree = _LogTree(use_cache=use_cache)
        path = [tree.range_root(a, b) for a, b in ranges]
        if merkle.verify_inclusion(
            stored_leaf_hash, index, seal.tree_size, path, bytes(seal.root_hash)
        ):
            tree.save_found()
            if not use_cache:
                logger.warning("ledger subtree cache disagreed with seal size=%s", seal.tree_size)
            return path
    raise LogIntegrityError(
        f"seal size={seal.tree_size} does not match the stored log; run manage.py ledger_verify"
    )


def inclusion_proof(transfer_id, seal: Seal) -> InclusionProof:
    """The audit path of the transfer's leaf in the tree of `seal`, checked against its root."""
    index, stored_leaf_hash = _log_position(transfer_id)
    if index >= seal.tree_size:
        raise NotYetSealed(
            f"transfer {transfer_id} is at log index {index}, after seal size={seal.tree_size}"
        )
    return InclusionProof(
        transfer_id=uuid.UUID(str(transfer_id)),
        leaf_index=index,
        tree_size=seal.tree_size,
        leaf_hash=stored_leaf_hash,
        audit_path=_audit_path(index, stored_leaf_hash, seal),
    )


def record_log_position(record_id) -> tuple[int, bytes] | None:
    """(log index, stored leaf hash) of a record, or None while it is still queued."""
    row = LogEntry.objects.filter(record_id=record_id).values_list("index", "leaf_hash").first()
    return None if row is None else (row[0], bytes(row[1]))


def first_seal_covering(index: int) -> Seal | None:
    """The earliest seal whose tree holds log index `index`: a proof against it never changes."""
    return Seal.objects.filter(tree_size__gt=index).order_by("tree_size").first()


def record_inclusion_proof(record_id, seal: Seal) -> RecordInclusionProof:
    """The audit path of a record's leaf in the tree of `seal`, checked against its root.

    The stored leaf hash is checked against the record's bytes first: a record changed after it
    was logged has no proof, only a LogIntegrityError.
    """
    record = LogRecord.objects.filter(pk=record_id).first()
    if record is None:
        raise NotFound(f"no log record {record_id}")
    position = record_log_position(record_id)
    if position is None:
        raise NotYetSealed(f"record {record_id} is not in the log yet")
    index, stored_leaf_hash = position
    if index >= seal.tree_size:
        raise NotYetSealed(
            f"record {record_id} is at log index {index}, after seal size={seal.tree_size}"
        )
    if record_leaf_hash(record.kind, bytes(record.payload)) != stored_leaf_hash:
        raise LogIntegrityError(
            f"record {record_id}: leaf hash mismatch (changed after it was logged)"
        )
    return RecordInclusionProof(
        record_id=record.pk,
        leaf_index=index,
        tree_size=seal.tree_size,
        leaf_hash=stored_leaf_hash,
        audit_path=_audit_path(index, stored_leaf_hash, seal),
    )


def consistency_proof(old_seal: Seal, new_seal: Seal) -> list[bytes]:
    """PROOF(old size, D[new size]): the new seal's tree extends the old one's."""
    if old_seal.tree_size > new_seal.tree_size:
        raise ValueError("the old seal must not be larger than the new one")
    ranges = merkle.consistency_proof_ranges(old_seal.tree_size, new_seal.tree_size)
    for use_cache in (True, False):
        tree = _LogTree(use_cache=use_cache)
        proof = [tree.range_root(a, b) for a, b in ranges]
        if verify_consistency(old_seal, new_seal, proof):
            tree.save_found()
            if not use_cache and ranges:
                logger.warning(
                    "ledger subtree cache disagreed with seal size=%s", new_seal.tree_size
                )
            return proof
    raise LogIntegrityError(
        f"seal size={new_seal.tree_size} is not an extension of seal size={old_seal.tree_size} "
        "in the stored log; run manage.py ledger_verify"
    )


def verify_inclusion(proof: InclusionProof, seal: Seal) -> bool:
    return merkle.verify_inclusion(
        proof.leaf_hash, proof.leaf_index, seal.tree_size, proof.audit_path, bytes(seal.root_hash)
    )


def verify_consistency(old_seal: Seal, new_seal: Seal, proof: list[bytes]) -> bool:
    return merkle.verify_consistency(
        old_seal.tree_size,
        new_seal.tree_size,
        bytes(old_seal.root_hash),
        bytes(new_seal.root_hash),
        proof,
    )


# --- Export for auditors ------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def signed_tree_head(seal: Seal) -> dict:
    """A seal as published: its signed head bytes and signature (base64), the key id, and
    readable copies of the size and root (docs/receipts.md, "Tree heads")."""
    return _signed_head(seal)


def _signed_head(seal: Seal) -> dict:
    return {
        "tree_head": _b64(seal_head_bytes(seal)),
        "signature": _b64(bytes(seal.signature)),
        "key_id": seal.key_id,
        # Readable copies; the verifier reads the signed bytes, never these.
        "tree_size": seal.tree_size,
        "root_hash": bytes(seal.root_hash).hex(),
    }


def export_inclusion(transfer_id, seal: Seal | None = None) -> dict:
    """A JSON-ready bundle proving the transfer is in the sealed log (see merkle.verify_bundle).

    `leaf` holds the transfer's exact canonical bytes, so the auditor sees every field that was
    committed to and recomputes the leaf hash from them.
    """
    seal = seal or latest_seal()
    if seal is None:
        raise NotYetSealed("the ledger has no seal yet")
    proof = inclusion_proof(transfer_id, seal)
    leaf = transfer_canonical_bytes(Transfer.objects.get(pk=transfer_id))
    if merkle.leaf_hash(leaf) != proof.leaf_hash:
        raise LogIntegrityError(
            f"transfer {transfer_id}: leaf hash mismatch (changed after it was logged)"
        )
    return {
        "format": merkle.BUNDLE_INCLUSION,
        "seal": _signed_head(seal),
        "transfer_id": str(proof.transfer_id),
        "leaf_index": proof.leaf_index,
        "leaf": _b64(leaf),
        "proof": [value.hex() for value in proof.audit_path],
        "public_key_id": crypto.platform_key_id(),
    }


def export_consistency(old_seal: Seal, new_seal: Seal) -> dict:
    """A JSON-ready bundle proving new_seal's tree extends old_seal's."""
    proof = consistency_proof(old_seal, new_seal)
    return {
        "format": merkle.BUNDLE_CONSISTENCY,
        "old_seal": _signed_head(old_seal),
        "new_seal": _signed_head(new_seal),
        "proof": [value.hex() for value in proof],
        "public_key_id": crypto.platform_key_id(),
    }
