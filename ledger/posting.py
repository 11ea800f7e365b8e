"""The portable posting path (SQLite, and PostgreSQL when the fast path is off).

Runs inside the caller's transaction.atomic. The checks, in the order both paths share:

  pass 1, every request: a stored transfer with the same id -> replay if every field matches,
          else transfer_exists naming the first field that differs, in the order kind,
          debit_account_id, credit_account_id, currency, pending_id, amount_minor (not for a void;
          None = the pending amount), timeout_s, reason, reference, metadata;
  pass 2, each new request in order:
          account_not_found (debit, then credit) -> currency_mismatch (debit, then credit) ->
          for a close: pending_not_found -> pending_not_pending -> pending_mismatch ->
          pending_already_closed -> pending_expired (post only) -> exceeds_pending_amount ->
          apply -> exceeds_limit (debit account, then credit account).

Nothing is written until every request has passed; then the transfers, their LogQueue rows, one
BalanceDelta per account without a limit and one counter UPDATE per locked account are written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from ledger.locking import lock_accounts
from ledger.models import Account, BalanceDelta, LogQueue, Transfer, TransferKind
from ledger.requests import CLOSING_KINDS, ValidRequest


class Refusal(Exception):
    """A request of the batch was refused: (0-based index, error code, details)."""

    def __init__(self, index: int, code: str, detail: dict[str, Any]) -> None:
        super().__init__(code)
        self.index = index
        self.code = code
        self.detail = detail


@dataclass(slots=True)
class _Pending:
    id: uuid.UUID
    kind: str
    debit_account_id: int
    credit_account_id: int
    amount_minor: int
    currency: str
    timeout_at: dt.datetime | None


def first_difference(
    stored: Transfer, request: ValidRequest, pending_amount: int | None
) -> str | None:
    """Name the first field in which a replayed request differs from the stored transfer."""
    if stored.kind != request.kind:
        return "kind"
    if stored.debit_account_id != request.debit_account_id:
        return "debit_account_id"
    if stored.credit_account_id != request.credit_account_id:
        return "credit_account_id"
    if stored.currency != request.currency:
        return "currency"
    if stored.pending_id != request.pending_id:
        return "pending_id"
    if request.kind != TransferKind.VOID_PENDING:
        expected = request.amount_minor
        if expected is None:  # a full post: the pending amount
            expected = pending_amount
        if stored.amount_minor != expected:
            return "amount_minor"
    if request.timeout_s is None:
        if stored.timeout_at is not None:
            return "timeout_s"
    elif stored.timeout_at != stored.created_at + dt.timedelta(seconds=request.timeout_s):
        return "timeout_s"
    if stored.reason != request.reason:
        return "reason"
    if stored.reference != request.reference:
        return "reference"
    if stored.metadata != request.metadata:
        return "metadata"
    return None


def _counters(account: Account) -> list[int]:
    return [
        account.debits_pending,
        account.debits_posted,
        account.credits_pending,
        account.credits_posted,
    ]


def post_transfers(requests: list[ValidRequest], batch_id: uuid.UUID | None) -> list[Transfer]:
    """Apply the requests all or none; raise Refusal for the first one refused."""
    ids = [request.id for request in requests]
    stored = Transfer.objects.in_bulk(ids)
    pending_ids = {request.pending_id for request in requests if request.pending_id}
    pendings = {
        row.id: _Pending(
            row.id,
            row.kind,
            row.debit_account_id,
            row.credit_account_id,
            row.amount_minor,
            row.currency,
            row.timeout_at,
        )
        for row in Transfer.objects.filter(id__in=pending_ids)
    }

    # Pass 1: idempotency.
    replayed: dict[int, Transfer] = {}
    for index, request in enumerate(requests):
        row = stored.get(request.id)
        if row is None:
            continue
        pending = pendings.get(row.pending_id) if row.pending_id else None
        differs = first_difference(row, request, pending.amount_minor if pending else None)
        if differs:
            raise Refusal(
                index, "transfer_exists", {"transfer_id": str(request.id), "differs": differs}
            )
        replayed[index] = row
    if len(replayed) == len(requests):
        return [replayed[index] for index in range(len(requests))]

    new_requests = [(i, r) for i, r in enumerate(requests) if i not in replayed]
    account_ids = {r.debit_account_id for _, r in new_requests} | {
        r.credit_account_id for _, r in new_requests
    }
    accounts = Account.objects.in_bulk(account_ids)
    limited_ids = [
        account.id
        for account in accounts.values()
        if account.debits_must_not_exceed_credits or account.credits_must_not_exceed_debits
    ]
    # The lock comes before any write and before reading anything the lock protects.
    locked = lock_accounts(limited_ids)
    # Counters: absolute for locked accounts, increments (deltas) for the others.
    balances: dict[int, list[int]] = {
        account_id: _counters(locked[account_id]) if account_id in locked else [0, 0, 0, 0]
        for account_id in accounts
    }
    closed = set(
        Transfer.objects.filter(pending_id__in=pending_ids).values_list("pending_id", flat=True)
    )
    now = timezone.now()

    created: dict[int, Transfer] = {}
    # Earlier new transfers of this batch, which later ones may close.
    batch_transfers: dict[uuid.UUID, _Pending] = {}
    for offset, (index, request) in enumerate(new_requests):
        transfer_id = str(request.id)
        debit = accounts.get(request.debit_account_id)
        credit = accounts.get(request.credit_account_id)
        for account, account_id, field in (
            (debit, request.debit_account_id, "debit_account_id"),
            (credit, request.credit_account_id, "credit_account_id"),
        ):
            if account is None:
                raise Refusal(
                    index,
                    "account_not_found",
                    {"transfer_id": transfer_id, "account_id": account_id, "field": field},
                )
        for account in (debit, credit):
            if account.currency != request.currency:
                raise Refusal(
                    index,
                    "currency_mismatch",
                    {
                        "transfer_id": transfer_id,
                        "currency": request.currency,
                        "account_id": account.id,
                        "account_code": account.code,
                        "account_currency": account.currency,
                    },
                )
        # One timestamp per batch, a microsecond apart, so (created_at, id) is application order.
        created_at = now + dt.timedelta(microseconds=offset)
        amount = request.amount_minor
        debit_change = credit_change = (0, 0)  # (pending, posted)
        if request.kind in CLOSING_KINDS:
            pending_detail = {"transfer_id": transfer_id, "pending_id": str(request.pending_id)}
            pending = pendings.get(request.pending_id) or batch_transfers.get(request.pending_id)
            if pending is None:
                raise Refusal(index, "pending_not_found", pending_detail)
            if pending.kind != TransferKind.PENDING:
                raise Refusal(index, "pending_not_pending", pending_detail)
            for field, mine, theirs in (
                ("debit_account_id", request.debit_account_id, pending.debit_account_id),
                ("credit_account_id", request.credit_account_id, pending.credit_account_id),
                ("currency", request.currency, pending.currency),
            ):
                if mine != theirs:
                    raise Refusal(index, "pending_mismatch", {**pending_detail, "field": field})
            if pending.id in closed:
                raise Refusal(index, "pending_already_closed", pending_detail)
            if request.kind == TransferKind.POST_PENDING:
                if pending.timeout_at is not None and pending.timeout_at <= created_at:
                    raise Refusal(index, "pending_expired", pending_detail)
                if amount is None:
                    amount = pending.amount_minor
                if amount > pending.amount_minor:
                    raise Refusal(
                        index,
                        "exceeds_pending_amount",
                        {
                            **pending_detail,
                            "amount_minor": amount,
                            "pending_amount_minor": pending.amount_minor,
                        },
                    )
                # The whole pending amount leaves *_pending; `amount` of it is posted.
                debit_change = credit_change = (-pending.amount_minor, amount)
            else:
                amount = pending.amount_minor
                debit_change = credit_change = (-pending.amount_minor, 0)
            closed.add(pending.id)
        elif request.kind == TransferKind.PENDING:
            debit_change = credit_change = (amount, 0)
        else:
            debit_change = credit_change = (0, amount)

        debit_counters = balances[debit.id]
        debit_counters[0] += debit_change[0]
        debit_counters[1] += debit_change[1]
        credit_counters = balances[credit.id]
        credit_counters[2] += credit_change[0]
        credit_counters[3] += credit_change[1]
        for account in (debit, credit):
            if account.id not in locked:
                continue
            debits_pending, debits_posted, credits_pending, credits_posted = balances[account.id]
            limit = None
            if (
                account.debits_must_not_exceed_credits
                and debits_pending + debits_posted > credits_posted
            ):
                limit = "debits_must_not_exceed_credits"
            elif (
                account.credits_must_not_exceed_debits
                and credits_pending + credits_posted > debits_posted
            ):
                limit = "credits_must_not_exceed_debits"
            if limit:
                raise Refusal(
                    index,
                    "exceeds_limit",
                    {
                        "transfer_id": transfer_id,
                        "account_id": account.id,
                        "account_code": account.code,
                        "limit": limit,
                    },
                )

        transfer = Transfer(
            id=request.id,
            kind=request.kind,
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            amount_minor=amount,
            currency=request.currency,
            pending_id=request.pending_id,
            timeout_at=(
                created_at + dt.timedelta(seconds=request.timeout_s)
                if request.timeout_s is not None
                else None
            ),
            batch_id=batch_id,
            reason=request.reason,
            reference=request.reference,
            metadata=request.metadata,
            created_at=created_at,
        )
        created[index] = transfer
        batch_transfers[request.id] = _Pending(
            request.id,
            request.kind,
            debit.id,
            credit.id,
            amount,
            request.currency,
            transfer.timeout_at,
        )

    # Every request passed: write.
    new_transfers = list(created.values())
    Transfer.objects.bulk_create(new_transfers)
    LogQueue.objects.bulk_create([LogQueue(transfer_id=t.id) for t in new_transfers])
    deltas = []
    for account_id, counters in sorted(balances.items()):
        if account_id in locked:
            Account.objects.filter(id=account_id).update(
                debits_pending=counters[0],
                debits_posted=counters[1],
                credits_pending=counters[2],
                credits_posted=counters[3],
            )
        elif any(counters):
            deltas.append(
                BalanceDelta(
                    account_id=account_id,
                    debits_pending=counters[0],
                    debits_posted=counters[1],
                    credits_pending=counters[2],
                    credits_posted=counters[3],
                )
            )
    BalanceDelta.objects.bulk_create(deltas)
    return [replayed[i] if i in replayed else created[i] for i in range(len(requests))]
