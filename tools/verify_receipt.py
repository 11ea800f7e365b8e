#!/usr/bin/env python3
"""Verify a Clearhouse receipt offline.

    python verify_receipt.py RECEIPT.json KEYS.json

RECEIPT.json is a receipt file as the platform serves it (GET /api/v1/orders/<id>/receipt);
KEYS.json is the platform's published keys (GET /.well-known/clearhouse-keys.json). This one file
needs only Python 3.11+ and pycryptodome (`pip install pycryptodome`); docs/receipts.md in the
Clearhouse repository specifies every check, so it can be rewritten in any language.

Checks, in order (the first that fails is named, and the exit status is 1):
  the platform's signature over the receipt's canonical JSON, by a published key valid when the
  receipt was issued; the confirmation record's hash and what it binds (and that its state and
  the receipt's status follow from its acknowledgements); the seller's acceptance signature over
  the signed order document; each acknowledgement's signature over the statement of exactly its
  payout and order;
  then, once the receipt is sealed, the tree head's signature by a published key valid when it was
  sealed, and the Merkle inclusion proof of the receipt's log leaf against that tree head.

Exit status: 0 every check passed; 1 a check failed; 2 a file could not be read; 3 the signatures
are good but the receipt is not sealed yet (no inclusion proof: fetch it again after the next seal).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC, RSA
from Crypto.Signature import eddsa, pss

RECEIPT_FILE_FORMAT = "clearhouse.receipt.v1"
KEYS_FILE_FORMAT = "clearhouse.keys.v1"
RECEIPT_TYPE = "clearhouse.receipt"
RECORD_TYPE = "clearhouse.confirmation_record"
TREE_HEAD_TYPE = "clearhouse.ledger.tree_head"
RECORD_LEAF_PREFIX = b"clearhouse.ledger.record.v1\x00"
RECEIPT_LOG_KIND = b"receipt"
PAYOUT_STATEMENT_TYPE = "clearhouse.payout_statement"
ORDER_STATEMENT_TYPE = "clearhouse.order_statement"
ACK_STATES = ("absent", "pending", "given", "lapsed", "disputed", "resolved")
CLOSED_ACK_STATES = ("given", "lapsed", "resolved")
PLATFORM_ALGORITHM = "ed25519"
INNER_ALGORITHMS = ("ed25519", "rsa-pss-sha256")
MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_PROOF_HASHES = 64

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE, EXIT_NOT_SEALED = 0, 1, 2, 3


class CheckFailed(Exception):
    """One named check failed; `message` says what was found."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message


@dataclass
class Verified:
    """What a successful verification established."""

    passed: list[str] = field(default_factory=list)
    sealed: bool = False
    receipt: dict = field(default_factory=dict)


# --- Strict JSON in, canonical JSON out (docs/receipts.md, "Canonical JSON") -----------------


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_float(text: str) -> Any:
    raise ValueError(f"number {text} is not an integer (receipts hold no fractions)")


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def load_json(data: bytes) -> Any:
    """Parse strictly: UTF-8, no duplicate keys, no fractions or exponents, no NaN."""
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
    return json.loads(
        data.decode("utf-8"),
        object_pairs_hook=_unique_keys,
        parse_float=_no_float,
        parse_constant=_no_constant,
    )


def _canonical_value(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH}")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is beyond +/-(2**53 - 1)")
        return value
    if isinstance(value, list):
        return [_canonical_value(item, depth + 1) for item in value]
    if isinstance(value, dict):
        # RFC 8785: keys in the order of their UTF-16 code units.
        keys = sorted(value, key=lambda key: key.encode("utf-16-be", "surrogatepass"))
        return {key: _canonical_value(value[key], depth + 1) for key in keys}
    raise ValueError(f"{type(value).__name__} has no place in canonical JSON")


def canonical_json(value: Any) -> bytes:
    """The canonical bytes: sorted keys, no whitespace, UTF-8, integers only (RFC 8785 subset)."""
    text = json.dumps(
        _canonical_value(value, 0), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return text.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError (a ValueError)


# --- Small readers that fail with the check's name --------------------------------------------


def _object(value: Any, check: str, what: str) -> dict:
    if not isinstance(value, dict):
        raise CheckFailed(check, f"{what} is missing or not a JSON object")
    return value


def _text(value: Any, check: str, what: str) -> str:
    if not isinstance(value, str):
        raise CheckFailed(check, f"{what} is missing or not a string")
    return value


def _integer(value: Any, check: str, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CheckFailed(check, f"{what} is missing or not an integer")
    return value


def _b64(value: Any, check: str, what: str) -> bytes:
    try:
        return base64.b64decode(_text(value, check, what), validate=True)
    except (binascii.Error, ValueError):
        raise CheckFailed(check, f"{what} is not base64") from None


def _hash(value: Any, check: str, what: str) -> bytes:
    try:
        result = bytes.fromhex(_text(value, check, what))
    except ValueError:
        result = b""
    if len(result) != 32 or value != result.hex():
        raise CheckFailed(check, f"{what} is not a 32-byte lowercase hex hash")
    return result


def _time(value: Any, check: str, what: str) -> dt.datetime:
    text = _text(value, check, what)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or not text.endswith("Z"):
        raise CheckFailed(check, f"{what} {text!r} is not a UTC time ending in Z")
    return moment


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- Signatures ---------------------------------------------------------------------------------


def _signature_verifies(algorithm: str, public_pem: str, message: bytes, signature: bytes) -> bool:
    """Ed25519 (RFC 8032, pure) or RSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt."""
    try:
        if algorithm == "ed25519":
            key = ECC.import_key(public_pem)
            if key.curve != "Ed25519" or key.has_private():
                return False
            eddsa.new(key, "rfc8032").verify(message, signature)
            return True
        if algorithm == "rsa-pss-sha256":
            key = RSA.import_key(public_pem)
            if key.has_private() or key.size_in_bits() < 2048:
                return False
            pss.new(key, salt_bytes=32).verify(SHA256.new(message), signature)
            return True
    except (ValueError, TypeError, IndexError):
        return False
    return False


@dataclass(frozen=True)
class PublishedKey:
    key_id: str
    public_pem: str
    valid_from: dt.datetime
    valid_until: dt.datetime | None


def read_keys(keys_document: Any) -> dict[str, PublishedKey]:
    """The published platform keys by id (docs/receipts.md, "The published keys")."""
    check = "keys_file"
    document = _object(keys_document, check, "the keys file")
    if document.get("format") != KEYS_FILE_FORMAT:
        raise CheckFailed(check, f"the keys file's format is not {KEYS_FILE_FORMAT!r}")
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise CheckFailed(check, "the keys file lists no keys")
    keys: dict[str, PublishedKey] = {}
    for position, entry in enumerate(entries):
        what = f"key {position}"
        entry = _object(entry, check, what)
        key_id = _text(entry.get("key_id"), check, f"{what} key_id")
        if entry.get("algorithm") != PLATFORM_ALGORITHM:
            raise CheckFailed(check, f"key {key_id} is not an {PLATFORM_ALGORITHM} key")
        until = entry.get("valid_until")
        keys[key_id] = PublishedKey(
            key_id=key_id,
            public_pem=_text(entry.get("public_key_pem"), check, f"key {key_id} public_key_pem"),
            valid_from=_time(entry.get("valid_from"), check, f"key {key_id} valid_from"),
            valid_until=None if until is None else _time(until, check, f"key {key_id} valid_until"),
        )
    return keys


def _platform_key(keys: dict[str, PublishedKey], key_id: Any, at: dt.datetime, what: str) -> str:
    """The PEM of published key `key_id` if it was valid at `at`; names the check otherwise."""
    check = what.replace(" ", "_")
    key = keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        if what == "tree head":
            raise CheckFailed(
                f"{check}_key",
                f"the tree head is signed by key {key_id!r}, which the published keys do not "
                "hold: it is not a tree head of this platform's log",
            )
        raise CheckFailed(
            f"{check}_key",
            f"the {what} is signed by key {key_id!r}, which the published keys do not hold",
        )
    if at < key.valid_from or (key.valid_until is not None and at > key.valid_until):
        until = key.valid_until.isoformat() if key.valid_until else "now"
        raise CheckFailed(
            f"{check}_key_period",
            f"key {key_id} was valid from {key.valid_from.isoformat()} until {until}, but the "
            f"{what} is dated {at.isoformat()}: it was expired or not yet valid",
        )
    return key.public_pem


def _inner_signature(value: Any, check: str, what: str) -> tuple[bytes, str] | None:
    """Verify a signature object inside the receipt; return (message, algorithm), or None."""
    if value is None:
        return None
    signature = _object(value, check, what)
    algorithm = signature.get("algorithm")
    if algorithm not in INNER_ALGORITHMS:
        raise CheckFailed(check, f"{what} uses unknown algorithm {algorithm!r}")
    public_pem = _text(signature.get("public_key_pem"), check, f"{what} public_key_pem")
    message = _b64(signature.get("message"), check, f"{what} message")
    if not _signature_verifies(
        algorithm, public_pem, message, _b64(signature.get("value"), check, f"{what} value")
    ):
        raise CheckFailed(check, f"{what} does not verify over the bytes it names")
    return message, algorithm


# --- Merkle inclusion (RFC 9162 section 2.1.3.2) -----------------------------------------------


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def receipt_leaf(receipt_bytes: bytes) -> bytes:
    """The receipt's leaf in the ledger's log: a record of kind "receipt"."""
    return RECORD_LEAF_PREFIX + RECEIPT_LOG_KIND + b"\x00" + receipt_bytes


def inclusion_path_length(index: int, tree_size: int) -> int:
    """How many hashes PATH(index, D[tree_size]) holds (RFC 6962 section 2.1.1)."""
    length, start, end = 0, 0, tree_size
    while end - start > 1:
        split = 1 << ((end - start - 1).bit_length() - 1)
        if index < start + split:
            end = start + split
        else:
            start += split
        length += 1
    return length


def root_from_inclusion_proof(
    leaf_hash_value: bytes, index: int, tree_size: int, proof: list[bytes]
) -> bytes | None:
    fn, sn, result = index, tree_size - 1, leaf_hash_value
    for value in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            result = _node(value, result)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            result = _node(result, value)
        fn >>= 1
        sn >>= 1
    return result if sn == 0 else None


# --- The receipt ---------------------------------------------------------------------------------


def _check_record(receipt: dict) -> None:
    record = _object(receipt.get("confirmation_record"), "confirmation_record", "the record")
    stated = _text(
        receipt.get("confirmation_record_hash"),
        "confirmation_record_hash",
        "confirmation_record_hash",
    )
    computed = _sha256_hex(canonical_json(record))
    if stated != computed:
        raise CheckFailed(
            "confirmation_record_hash",
            f"confirmation_record_hash is {stated} but the confirmation record hashes to "
            f"{computed}",
        )
    check = "confirmation_record"
    if record.get("type") != RECORD_TYPE or record.get("v") != 1:
        raise CheckFailed(check, "not a version 1 Clearhouse confirmation record")
    order, sub_order = receipt["order"], receipt["sub_order"]
    if (record.get("order_id"), record.get("sub_order_id")) != (
        order.get("id"),
        sub_order.get("id"),
    ):
        raise CheckFailed(check, "the confirmation record is for another order")
    acceptance = receipt.get("acceptance")
    if acceptance is None:
        bound = (None, None)
    else:
        signature = _object(acceptance, check, "acceptance").get("signature")
        value = _object(signature, check, "the acceptance signature").get("value")
        bound = (
            acceptance.get("order_document_sha256"),
            _sha256_hex(_b64(value, check, "the acceptance signature value")),
        )
    if (record.get("order_document_sha256"), record.get("acceptance_signature_sha256")) != bound:
        raise CheckFailed(
            check,
            "the confirmation record binds another order document or acceptance signature "
            "than the receipt holds",
        )
    if record.get("buyer_confirmation") != receipt.get("buyer_confirmation"):
        raise CheckFailed(check, "the confirmation record binds another buyer confirmation")
    payouts = record.get("payouts")
    if not isinstance(payouts, list) or not all(isinstance(p, dict) for p in payouts):
        raise CheckFailed(check, "the confirmation record's payouts are not a list of objects")
    paid = [p for p in payouts if p.get("status") == "paid"]
    closed = [
        _object(
            p.get(f"{side}_acknowledgement"), check, f"the payout's {side}_acknowledgement"
        ).get("state")
        in CLOSED_ACK_STATES
        for p in paid
        for side in ("seller", "buyer")
    ]
    complete = bool(paid) and all(closed)
    if record.get("state") != ("complete" if complete else "open"):
        raise CheckFailed(
            check,
            f"the confirmation record says {record.get('state')!r}, but its acknowledgements "
            f"make it {'complete' if complete else 'open'}",
        )
    if receipt.get("status") != ("final" if complete else "provisional"):
        raise CheckFailed(
            check,
            f"the receipt is {receipt.get('status')!r} but its confirmation record is "
            f"{record.get('state')!r}",
        )


def _check_acceptance(receipt: dict) -> bool:
    acceptance = receipt.get("acceptance")
    if acceptance is None:
        return False
    acceptance = _object(acceptance, "seller_signature", "acceptance")
    signed = _inner_signature(
        acceptance.get("signature"), "seller_signature", "the seller's acceptance signature"
    )
    if signed is None:
        raise CheckFailed("seller_signature", "the acceptance has no signature")
    document_bytes = signed[0]
    stated = acceptance.get("order_document_sha256")
    if _sha256_hex(document_bytes) != stated:
        raise CheckFailed(
            "order_document",
            f"the signed order document hashes to {_sha256_hex(document_bytes)}, not {stated!r}",
        )
    try:
        document = load_json(document_bytes)
    except ValueError:
        raise CheckFailed("order_document", "the signed order document is not JSON") from None
    order, sub_order = receipt["order"], receipt["sub_order"]
    amounts = _object(receipt.get("amounts"), "receipt_format", "amounts")
    document = _object(document, "order_document", "the signed order document")
    document_order = document.get("order") if isinstance(document.get("order"), dict) else {}
    if (document.get("sub_order_id"), document_order.get("id")) != (
        sub_order.get("id"),
        order.get("id"),
    ):
        raise CheckFailed(
            "order_document",
            f"the seller signed the document of sub-order {document.get('sub_order_id')!r}, "
            f"not of this receipt's sub-order {sub_order.get('id')!r}",
        )
    if (document.get("amount_minor"), document.get("currency")) != (
        amounts.get("total_minor"),
        receipt.get("currency"),
    ):
        raise CheckFailed(
            "order_document", "the signed order document states another amount or currency"
        )
    return True


def _statement(message: bytes, check: str, what: str) -> dict:
    try:
        statement = load_json(message)
    except ValueError:
        raise CheckFailed(check, f"{what} signs bytes that are not a JSON statement") from None
    statement = _object(statement, check, what)
    if canonical_json(statement) != message:
        raise CheckFailed(check, f"{what} signs a statement that is not canonical JSON")
    return statement


def _check_acknowledgement(receipt: dict, payout: dict, side: str) -> str | None:
    """One side's acknowledgement of one payout: a given one carries a signature over the
    statement of exactly this payout (the seller's) or of this order and payout (the buyer's)."""
    name = f"{side}_acknowledgement"
    acknowledgement = _object(payout.get(name), "confirmation_record", f"the payout's {name}")
    state = acknowledgement.get("state")
    if state not in ACK_STATES:
        raise CheckFailed(name, f"the {side}'s acknowledgement has unknown state {state!r}")
    signed = _inner_signature(
        acknowledgement.get("signature"), f"{name}_signature", f"the {side}'s acknowledgement"
    )
    if signed is None:
        if state == "given":
            raise CheckFailed(name, f"the {side}'s acknowledgement is given but not signed")
        return None
    message = signed[0]
    if acknowledgement.get("statement_sha256") != _sha256_hex(message):
        raise CheckFailed(
            name, f"the {side}'s acknowledgement names another statement than the one it signs"
        )
    statement = _statement(message, name, f"the {side}'s acknowledgement")
    order = receipt["order"]
    if side == "seller":
        expected_type = PAYOUT_STATEMENT_TYPE
        same = (
            statement.get("payout_id") == payout.get("id")
            and statement.get("amount_minor") == payout.get("amount_minor")
            and statement.get("currency") == payout.get("currency")
            and statement.get("bank_reference") == payout.get("bank_reference")
            and order.get("id") in (statement.get("order_ids") or [])
        )
    else:
        expected_type = ORDER_STATEMENT_TYPE
        same = (
            statement.get("payout_id") == payout.get("id")
            and statement.get("order_id") == order.get("id")
            and statement.get("sub_order_id") == receipt["sub_order"].get("id")
            and statement.get("currency") == receipt.get("currency")
        )
    if statement.get("type") != expected_type or statement.get("v") != 1 or not same:
        raise CheckFailed(
            name,
            f"the {side} signed the statement of another payout or order "
            f"({statement.get('type')!r}, payout {statement.get('payout_id')!r})",
        )
    return f"the {side}'s acknowledgement of payout {payout.get('id')} verifies"


def _check_other_signatures(receipt: dict) -> list[str]:
    """Signatures the two-sided confirmation adds: the buyer's, and the acknowledgements."""
    found = []
    confirmation = _object(
        receipt.get("buyer_confirmation"), "receipt_format", "buyer_confirmation"
    )
    if _inner_signature(
        confirmation.get("signature"), "buyer_signature", "the buyer's confirmation signature"
    ):
        found.append("the buyer's confirmation signature verifies")
    for payout in receipt["confirmation_record"]["payouts"]:
        for side in ("seller", "buyer"):
            passed = _check_acknowledgement(receipt, payout, side)
            if passed:
                found.append(passed)
    return found


def _check_tree_head(signed: Any, keys: dict[str, PublishedKey]) -> dict:
    """A signed tree head's fields, once its signature checks out."""
    check = "tree_head_format"
    signed = _object(signed, check, "the tree head")
    head_bytes = _b64(signed.get("tree_head"), check, "tree_head")
    try:
        head = load_json(head_bytes)
    except ValueError:
        raise CheckFailed(check, "the signed tree head is not JSON") from None
    head = _object(head, check, "the signed tree head")
    if head.get("type") != TREE_HEAD_TYPE or head.get("v") != 1:
        raise CheckFailed(check, "not a version 1 Clearhouse tree head")
    sealed_at = _time(head.get("sealed_at"), check, "sealed_at")
    public_pem = _platform_key(keys, signed.get("key_id"), sealed_at, "tree head")
    signature = _b64(signed.get("signature"), "tree_head_signature", "the tree head signature")
    if not _signature_verifies(PLATFORM_ALGORITHM, public_pem, head_bytes, signature):
        raise CheckFailed(
            "tree_head_signature",
            f"the tree head's signature does not verify with key {signed.get('key_id')}",
        )
    size = _integer(head.get("tree_size"), check, "tree_size")
    root = _hash(head.get("root_hash"), check, "root_hash")
    # The readable copies beside the signed bytes must say the same.
    for name, value in (("tree_size", size), ("root_hash", root.hex())):
        if name in signed and signed[name] != value:
            raise CheckFailed(check, f"the readable {name} differs from the signed tree head")
    if "sealed_at" in signed and _time(signed["sealed_at"], check, "sealed_at") != sealed_at:
        raise CheckFailed(check, "the readable sealed_at differs from the signed tree head")
    return {"tree_size": size, "root_hash": root, "sealed_at": sealed_at}


def _check_inclusion(inclusion: Any, receipt_bytes: bytes, keys: dict) -> dict:
    inclusion = _object(inclusion, "inclusion_format", "inclusion")
    head = _check_tree_head(inclusion.get("tree_head"), keys)
    index = _integer(inclusion.get("log_index"), "inclusion_format", "log_index")
    size = head["tree_size"]
    if not 0 <= index < size:
        raise CheckFailed(
            "inclusion_format", f"log index {index} is outside the tree of size {size}"
        )
    mine = leaf_hash(receipt_leaf(receipt_bytes))
    stated = _hash(inclusion.get("leaf_hash"), "inclusion_format", "leaf_hash")
    if stated != mine:
        raise CheckFailed(
            "inclusion_leaf",
            f"the inclusion proof is for another leaf: it proves leaf {stated.hex()} at index "
            f"{index}, but this receipt's leaf is {mine.hex()}",
        )
    path = inclusion.get("audit_path")
    if not isinstance(path, list) or len(path) > MAX_PROOF_HASHES:
        raise CheckFailed("inclusion_format", "audit_path is missing or too long")
    proof = [_hash(value, "inclusion_format", "an audit_path hash") for value in path]
    needed = inclusion_path_length(index, size)
    if len(proof) != needed:
        raise CheckFailed(
            "inclusion_proof_length",
            f"the inclusion proof has {len(proof)} hashes; a leaf at index {index} of a tree of "
            f"size {size} needs exactly {needed}",
        )
    if root_from_inclusion_proof(mine, index, size, proof) != head["root_hash"]:
        raise CheckFailed(
            "inclusion_proof",
            f"the inclusion proof does not lead to the root of the tree of size {size}: the "
            "receipt is not in the log that tree head describes",
        )
    return head


def verify_receipt(receipt_file: Any, keys_document: Any) -> Verified:
    """Every check of docs/receipts.md; raises CheckFailed naming the first that fails."""
    keys = read_keys(keys_document)
    result = Verified()
    document = _object(receipt_file, "file_format", "the receipt file")
    if document.get("format") != RECEIPT_FILE_FORMAT:
        raise CheckFailed("file_format", f"the file's format is not {RECEIPT_FILE_FORMAT!r}")
    receipt = _object(document.get("receipt"), "receipt_format", "receipt")
    if receipt.get("type") != RECEIPT_TYPE or receipt.get("v") != 1:
        raise CheckFailed("receipt_format", "not a version 1 Clearhouse receipt")
    _object(receipt.get("order"), "receipt_format", "order")
    _object(receipt.get("sub_order"), "receipt_format", "sub_order")
    try:
        receipt_bytes = canonical_json(receipt)
    except ValueError as exc:
        raise CheckFailed(
            "receipt_format", f"the receipt is not canonical-JSON data: {exc}"
        ) from None

    signature = _object(document.get("signature"), "receipt_signature", "signature")
    if signature.get("algorithm") != PLATFORM_ALGORITHM:
        raise CheckFailed("receipt_signature", f"the signature is not {PLATFORM_ALGORITHM}")
    issued_at = _time(receipt.get("issued_at"), "receipt_format", "issued_at")
    key_id = signature.get("key_id")
    public_pem = _platform_key(keys, key_id, issued_at, "receipt")
    value = _b64(signature.get("value"), "receipt_signature", "the signature value")
    if not _signature_verifies(PLATFORM_ALGORITHM, public_pem, receipt_bytes, value):
        raise CheckFailed(
            "receipt_signature",
            f"the platform's signature (key {key_id}) does not verify over the receipt's "
            "canonical bytes: the receipt was changed after it was signed",
        )
    result.passed.append(f"the platform's signature verifies (key {key_id})")

    _check_record(receipt)
    result.passed.append("the confirmation record matches its hash and the receipt")
    if _check_acceptance(receipt):
        result.passed.append("the seller's acceptance signature verifies over the order document")
    result.passed.extend(_check_other_signatures(receipt))

    if document.get("inclusion") is not None:
        head = _check_inclusion(document["inclusion"], receipt_bytes, keys)
        result.passed.append(
            f"the tree head (size {head['tree_size']}) is signed by a published key"
        )
        result.passed.append("the inclusion proof leads to the tree head's root")
        result.sealed = True
    result.receipt = receipt
    return result


def run(receipt_data: bytes, keys_data: bytes, out: TextIO) -> int:
    """Verify and report on `out`; return the exit status (see the module docstring)."""
    try:
        receipt_file, keys_document = load_json(receipt_data), load_json(keys_data)
    except ValueError as exc:
        out.write(f"UNREADABLE: {exc}\n")
        return EXIT_UNREADABLE
    try:
        verified = verify_receipt(receipt_file, keys_document)
    except CheckFailed as failure:
        out.write(f"FAILED {failure.check}: {failure.message}\n")
        return EXIT_FAILED
    receipt = verified.receipt
    out.write(
        f"receipt {receipt.get('receipt_id')} of order {receipt['order'].get('number')} "
        f"(sub-order {receipt['sub_order'].get('id')}), {receipt.get('status')}\n"
    )
    for line in verified.passed:
        out.write(f"ok: {line}\n")
    if not verified.sealed:
        out.write(
            "NOT SEALED YET: no inclusion proof; fetch the receipt again after the next seal\n"
        )
        return EXIT_NOT_SEALED
    out.write("VERIFIED\n")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: verify_receipt.py RECEIPT.json KEYS.json\n")
        return EXIT_UNREADABLE
    try:
        with open(args[0], "rb") as receipt, open(args[1], "rb") as keys:
            receipt_data, keys_data = (
                receipt.read(MAX_FILE_BYTES + 1),
                keys.read(MAX_FILE_BYTES + 1),
            )
    except OSError as exc:
        sys.stderr.write(f"UNREADABLE: {exc}\n")
        return EXIT_UNREADABLE
    return run(receipt_data, keys_data, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
