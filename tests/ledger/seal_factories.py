"""Transfers for the sealing tests, written the way a posting does until ledger.services lands:
Transfer + LogQueue row + the four counters, in one transaction (TigerBeetle semantics)."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ledger.models import Account, BalanceDelta, LogQueue, Transfer

_clock = {"now": None}


def make_account(code: str = "platform:escrow", currency: str = "EUR", **fields) -> Account:
    return Account.objects.create(code=code, currency=currency, **fields)


def _next_time() -> dt.datetime:
    # Strictly increasing created_at so that the log order is the posting order.
    now = timezone.now()
    previous = _clock["now"]
    if previous is not None and now <= previous:
        now = previous + dt.timedelta(microseconds=1)
    _clock["now"] = now
    return now


def _add(account_id: int, **deltas: int) -> None:
    Account.objects.filter(pk=account_id).update(
        **{name: F(name) + value for name, value in deltas.items()}
    )


def post(
    debit: Account,
    credit: Account,
    amount_minor: int,
    *,
    kind: str = "posted",
    reason: str = "test",
    reference: str = "",
    metadata: dict | None = None,
    created_at: dt.datetime | None = None,
    timeout_at: dt.datetime | None = None,
    credit_by_delta: bool = False,
) -> Transfer:
    """credit_by_delta: the credit side goes to a BalanceDelta row, as for a hot account."""
    assert kind in ("posted", "pending")
    with transaction.atomic():
        transfer = Transfer.objects.create(
            id=uuid.uuid4(),
            kind=kind,
            debit_account=debit,
            credit_account=credit,
            amount_minor=amount_minor,
            currency=debit.currency,
            reason=reason,
            reference=reference,
            metadata=metadata or {},
            created_at=created_at or _next_time(),
            timeout_at=timeout_at,
        )
        LogQueue.objects.create(transfer=transfer)
        side = "posted" if kind == "posted" else "pending"
        _add(debit.pk, **{f"debits_{side}": amount_minor})
        if credit_by_delta:
            BalanceDelta.objects.create(account=credit, **{f"credits_{side}": amount_minor})
        else:
            _add(credit.pk, **{f"credits_{side}": amount_minor})
    return transfer


def close(pending: Transfer, *, void: bool = False, amount_minor: int | None = None) -> Transfer:
    """Post (all or part) or void a pending transfer."""
    amount = pending.amount_minor if void or amount_minor is None else amount_minor
    with transaction.atomic():
        transfer = Transfer.objects.create(
            id=uuid.uuid4(),
            kind="void_pending" if void else "post_pending",
            debit_account_id=pending.debit_account_id,
            credit_account_id=pending.credit_account_id,
            amount_minor=amount,
            currency=pending.currency,
            pending=pending,
            reason="test",
            created_at=_next_time(),
        )
        LogQueue.objects.create(transfer=transfer)
        debit_changes = {"debits_pending": -pending.amount_minor}
        credit_changes = {"credits_pending": -pending.amount_minor}
        if not void:
            debit_changes["debits_posted"] = amount
            credit_changes["credits_posted"] = amount
        _add(pending.debit_account_id, **debit_changes)
        _add(pending.credit_account_id, **credit_changes)
    return transfer


def some_transfers(count: int, *, currency: str = "EUR") -> tuple[list[Transfer], dict]:
    """`count` transfers over a small chart of accounts, including a pending that gets posted."""
    accounts = {
        "provider": make_account("external:test", currency),
        "escrow": make_account("platform:escrow", currency),
        "seller": make_account("seller:1:pending", currency),
    }
    transfers: list[Transfer] = []
    number = 0
    while len(transfers) < count:
        if number % 5 == 3 and count - len(transfers) >= 2:
            pending = post(accounts["provider"], accounts["escrow"], 700 + number, kind="pending")
            transfers.append(pending)
            transfers.append(close(pending, amount_minor=600 + number))
        else:
            transfers.append(
                post(accounts["escrow"], accounts["seller"], 100 + number, reference=f"t:{number}")
            )
        number += 1
    return transfers, accounts
