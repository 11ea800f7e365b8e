"""Transfer requests: the caller's dataclass and its validation into a normalised form.

Validation here is pure (no database): types, ranges, shapes. Everything that depends on stored
state (accounts, pending transfers, limits, idempotency) is checked by the posting functions in
ledger/sql/ (the order is summed up in ledger/posting.py).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import InvalidAmount, InvalidTransfer, SameAccount
from ledger.models import TransferKind

# "Put a limit on everything": one amount fits many times in a 64-bit counter.
MAX_AMOUNT_MINOR = 10**15
# A pending transfer may wait at most a year for its timeout.
MAX_TIMEOUT_S = 366 * 24 * 3600
MAX_METADATA_BYTES = 8192
MAX_REFERENCE_LENGTH = 128
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
REASON_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
KINDS = frozenset(TransferKind.values)
CLOSING_KINDS = frozenset({TransferKind.POST_PENDING, TransferKind.VOID_PENDING})


@dataclass
class TransferRequest:
    """What a caller asks the ledger to do. `id` is the idempotency key."""

    id: uuid.UUID
    debit_account_id: int
    credit_account_id: int
    amount_minor: int | None
    currency: str
    reason: str
    kind: str = TransferKind.POSTED
    pending_id: uuid.UUID | None = None
    timeout_s: int | None = None
    reference: str = ""
    metadata: dict | None = field(default=None)


@dataclass(frozen=True, slots=True)
class ValidRequest:
    """A request that passed the pure checks; amount_minor is None only for a full post or a void."""

    id: uuid.UUID
    kind: str
    debit_account_id: int
    credit_account_id: int
    amount_minor: int | None
    currency: str
    reason: str
    pending_id: uuid.UUID | None
    timeout_s: int | None
    reference: str
    metadata: dict

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "kind": self.kind,
            "debit_account_id": self.debit_account_id,
            "credit_account_id": self.credit_account_id,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "pending_id": str(self.pending_id) if self.pending_id else None,
            "timeout_s": self.timeout_s,
            "reason": self.reason,
            "reference": self.reference,
            "metadata": self.metadata,
        }


def _uuid(value: Any, name: str, transfer_id: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise InvalidTransfer(f"transfer {transfer_id}: {name} must be a UUID", field=name)


def _positive_int(value: Any, name: str, transfer_id: Any, *, maximum: int) -> int:
    # bool is an int in Python; a flag is never an amount.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTransfer(
            f"transfer {transfer_id}: {name} must be an integer, not {type(value).__name__}",
            field=name,
        )
    if not 0 < value <= maximum:
        raise InvalidTransfer(
            f"transfer {transfer_id}: {name} must be between 1 and {maximum}, not {value}",
            field=name,
        )
    return value


def _amount(value: Any, transfer_id: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidAmount(
            f"transfer {transfer_id}: amount_minor must be an integer count of minor units, "
            f"not {type(value).__name__}",
            field="amount_minor",
        )
    if not 0 < value <= MAX_AMOUNT_MINOR:
        raise InvalidAmount(
            f"transfer {transfer_id}: amount_minor must be between 1 and {MAX_AMOUNT_MINOR}, "
            f"not {value}",
            field="amount_minor",
        )
    return value


def _check_json(value: Any, transfer_id: Any, depth: int = 0) -> None:
    # Metadata is hashed into the sealed log as canonical JSON, which refuses floats.
    if depth > 8:
        raise InvalidTransfer(f"transfer {transfer_id}: metadata nests too deep", field="metadata")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidTransfer(
                    f"transfer {transfer_id}: metadata keys must be strings", field="metadata"
                )
            _check_json(item, transfer_id, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, transfer_id, depth + 1)
    elif value is not None and not isinstance(value, str | int):
        raise InvalidTransfer(
            f"transfer {transfer_id}: metadata values must be strings, integers, booleans, "
            f"null, lists or objects, not {type(value).__name__}",
            field="metadata",
        )


def validate_request(request: TransferRequest) -> ValidRequest:
    """Check the request's shape; raise the specific InvalidTransfer subclass on the first fault."""
    if not isinstance(request, TransferRequest):
        raise InvalidTransfer("expected a TransferRequest", field=None)
    transfer_id = _uuid(request.id, "id", request.id)
    kind = request.kind
    if kind not in KINDS:
        raise InvalidTransfer(
            f"transfer {transfer_id}: kind must be one of {sorted(KINDS)}, not {kind!r}",
            field="kind",
        )
    debit_id = _positive_int(
        request.debit_account_id, "debit_account_id", transfer_id, maximum=2**63 - 1
    )
    credit_id = _positive_int(
        request.credit_account_id, "credit_account_id", transfer_id, maximum=2**63 - 1
    )
    if debit_id == credit_id:
        raise SameAccount(
            f"transfer {transfer_id} debits and credits the same account {debit_id}",
            field="credit_account_id",
        )
    if not isinstance(request.currency, str) or not CURRENCY_RE.match(request.currency):
        raise InvalidTransfer(
            f"transfer {transfer_id}: currency must be an ISO 4217 code like 'EUR'",
            field="currency",
        )
    if not isinstance(request.reason, str) or not REASON_RE.match(request.reason):
        raise InvalidTransfer(
            f"transfer {transfer_id}: reason must be a short slug (a-z, 0-9, _ . : -; "
            f"at most 64 characters)",
            field="reason",
        )
    if not isinstance(request.reference, str) or len(request.reference) > MAX_REFERENCE_LENGTH:
        raise InvalidTransfer(
            f"transfer {transfer_id}: reference must be a string of at most "
            f"{MAX_REFERENCE_LENGTH} characters",
            field="reference",
        )
    metadata = {} if request.metadata is None else request.metadata
    if not isinstance(metadata, dict):
        raise InvalidTransfer(
            f"transfer {transfer_id}: metadata must be an object", field="metadata"
        )
    _check_json(metadata, transfer_id)
    if metadata and len(json.dumps(metadata, separators=(",", ":"))) > MAX_METADATA_BYTES:
        raise InvalidTransfer(
            f"transfer {transfer_id}: metadata is larger than {MAX_METADATA_BYTES} bytes",
            field="metadata",
        )

    amount: int | None
    pending_id: uuid.UUID | None = None
    timeout_s: int | None = None
    if kind in CLOSING_KINDS:
        if request.pending_id is None:
            raise InvalidTransfer(
                f"transfer {transfer_id}: {kind} needs pending_id", field="pending_id"
            )
        pending_id = _uuid(request.pending_id, "pending_id", transfer_id)
        if request.timeout_s is not None:
            raise InvalidTransfer(
                f"transfer {transfer_id}: only a pending transfer takes timeout_s",
                field="timeout_s",
            )
        if kind == TransferKind.VOID_PENDING:
            amount = None  # a void always releases the whole pending amount
        else:
            amount = (
                None if request.amount_minor is None else _amount(request.amount_minor, transfer_id)
            )
    else:
        if request.pending_id is not None:
            raise InvalidTransfer(
                f"transfer {transfer_id}: only post_pending and void_pending take pending_id",
                field="pending_id",
            )
        amount = _amount(request.amount_minor, transfer_id)
        if request.timeout_s is not None:
            if kind != TransferKind.PENDING:
                raise InvalidTransfer(
                    f"transfer {transfer_id}: only a pending transfer takes timeout_s",
                    field="timeout_s",
                )
            timeout_s = _positive_int(
                request.timeout_s, "timeout_s", transfer_id, maximum=MAX_TIMEOUT_S
            )
    return ValidRequest(
        id=transfer_id,
        kind=str(kind),
        debit_account_id=debit_id,
        credit_account_id=credit_id,
        amount_minor=amount,
        currency=request.currency,
        reason=request.reason,
        pending_id=pending_id,
        timeout_s=timeout_s,
        reference=request.reference,
        metadata=metadata,
    )
