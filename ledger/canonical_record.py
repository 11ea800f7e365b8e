"""A log record's leaf: what the log commits to for a record another app appended (a LogRecord).

The ledger does not read a record's bytes; it commits to them with their kind. Format version 1:

    leaf = b"clearhouse.ledger.record.v1" || 0x00 || kind (ASCII) || 0x00 || payload
    leaf hash = SHA-256(0x00 || leaf)          (RFC 6962's leaf hash, as for transfers)

Domain separation: a transfer's leaf is canonical JSON of an object, so its first byte is "{";
a record's leaf starts with "c". No bytes are both, so a record can never pass for a transfer in
a proof, nor the other way round. A kind is [a-z][a-z0-9_.]{0,63} (no NUL), so the first NUL
after the prefix ends it and (kind, payload) is read back from a leaf in exactly one way.
"""

from __future__ import annotations

import re

from ledger.merkle import leaf_hash

RECORD_LEAF_PREFIX = b"clearhouse.ledger.record.v1\x00"
KIND_RE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
# A bound on what one record may hold (a receipt with its signed documents is a few kilobytes).
MAX_PAYLOAD_BYTES = 1024 * 1024


def check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not KIND_RE.fullmatch(kind):
        raise ValueError("a record kind is [a-z][a-z0-9_.]{0,63}")
    return kind


def record_leaf(kind: str, payload: bytes) -> bytes:
    """The leaf bytes of a record (see the module docstring)."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise TypeError("a record's payload is bytes")
    return RECORD_LEAF_PREFIX + check_kind(kind).encode("ascii") + b"\x00" + bytes(payload)


def record_leaf_hash(kind: str, payload: bytes) -> bytes:
    return leaf_hash(record_leaf(kind, payload))
