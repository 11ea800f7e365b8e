"""Ledger test helpers: accounts by chart code, requests with defaults, a snapshot of everything."""

from __future__ import annotations

import uuid

from ledger.models import Account, BalanceDelta, LogQueue, Transfer
from ledger.requests import TransferRequest
from ledger.selectors import account_balance
from ledger.services import get_or_create_account

DEBIT_LIMIT = "debits_must_not_exceed_credits"
CREDIT_LIMIT = "credits_must_not_exceed_debits"


def account(code: str, *, currency: str = "USD", limit: str | None = None) -> Account:
    flags = {limit: True} if limit else {}
    return get_or_create_account(currency=currency, code=code, **flags)


def _id(account_or_id) -> int:
    return account_or_id.id if isinstance(account_or_id, Account) else account_or_id


def request(debit, credit, amount_minor=100, **fields) -> TransferRequest:
    """A posted USD transfer unless told otherwise."""
    fields.setdefault("id", uuid.uuid4())
    fields.setdefault("currency", "USD")
    fields.setdefault("reason", "test")
    return TransferRequest(
        debit_account_id=_id(debit),
        credit_account_id=_id(credit),
        amount_minor=amount_minor,
        **fields,
    )


def close(pending: Transfer, kind: str, amount_minor=None, **fields) -> TransferRequest:
    """A post_pending / void_pending of `pending`, naming its accounts."""
    return request(
        pending.debit_account_id,
        pending.credit_account_id,
        amount_minor,
        kind=kind,
        pending_id=pending.id,
        currency=pending.currency,
        **fields,
    )


def balances(*accounts) -> list[tuple[int, int, int, int]]:
    out = []
    for item in accounts:
        b = account_balance(_id(item))
        out.append((b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted))
    return out


def snapshot() -> dict:
    """Everything a posting can write; equal before and after a refused request."""
    return {
        "transfers": sorted(str(pk) for pk in Transfer.objects.values_list("id", flat=True)),
        "queue": LogQueue.objects.count(),
        "deltas": sorted(
            BalanceDelta.objects.values_list(
                "account_id", "debits_pending", "debits_posted", "credits_pending", "credits_posted"
            )
        ),
        "accounts": sorted(
            Account.objects.values_list(
                "id", "debits_pending", "debits_posted", "credits_pending", "credits_posted"
            )
        ),
    }
