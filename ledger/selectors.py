"""Ledger reads. Every balance is exact: counters plus the deltas not yet folded, in one statement
(so a concurrent fold is seen either wholly or not at all)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef, Q, Sum
from django.db.models.functions import Coalesce

from ledger.errors import AccountNotFound, InvalidTransfer
from ledger.models import Account, BalanceDelta, Transfer, TransferKind

POSTING_KINDS = (TransferKind.POSTED, TransferKind.POST_PENDING)
MAX_HISTORY_PAGE = 500


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's four counters (TigerBeetle's model)."""

    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int

    @property
    def credit_balance(self) -> int:
        """Posted credits minus posted debits (what a credit-normal account holds)."""
        return self.credits_posted - self.debits_posted

    @property
    def debit_balance(self) -> int:
        """Posted debits minus posted credits (what a debit-normal account holds)."""
        return self.debits_posted - self.credits_posted

    @property
    def credit_balance_available(self) -> int:
        """The credit balance less pending debits: what may still be debited."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    @property
    def debit_balance_available(self) -> int:
        """The debit balance less pending credits: what may still be credited."""
        return self.debits_posted - self.credits_posted - self.credits_pending


ZERO = Balance(0, 0, 0, 0)


def account_by_code(*, currency: str, code: str) -> Account:
    try:
        return Account.objects.get(currency=currency, code=code)
    except Account.DoesNotExist:
        raise AccountNotFound(f"no ledger account {code} in {currency}", field="code") from None


def account_balance(account_id: int, *, as_of: dt.datetime | None = None) -> Balance:
    """The account's balance now (counters + unfolded deltas) or as of a past moment.

    As of a moment: the sum of the transfers created up to it; a pending transfer counts as
    pending if it was not closed by then (as the counters do, a timed-out pending stays pending
    until its void).
    """
    if as_of is not None:
        if not Account.objects.filter(id=account_id).exists():
            raise AccountNotFound(f"ledger account {account_id} does not exist")
        return _balance_from_transfers(account_id, Q(created_at__lte=as_of))
    balance = account_balances([account_id]).get(account_id)
    if balance is None:
        raise AccountNotFound(f"ledger account {account_id} does not exist")
    return balance


def account_balances(account_ids: Sequence[int]) -> dict[int, Balance]:
    """The balances of several accounts now, in one statement: {account id: Balance}, for the
    accounts that exist (counters + unfolded deltas, as account_balance)."""
    account_table = Account._meta.db_table
    delta_table = BalanceDelta._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT a.id, a.debits_pending + COALESCE(d.dp, 0), a.debits_posted + COALESCE(d.dpo, 0),
                   a.credits_pending + COALESCE(d.cp, 0), a.credits_posted + COALESCE(d.cpo, 0)
              FROM {account_table} a
              LEFT JOIN (
                  SELECT account_id, SUM(debits_pending) AS dp, SUM(debits_posted) AS dpo,
                         SUM(credits_pending) AS cp, SUM(credits_posted) AS cpo
                    FROM {delta_table} WHERE account_id = ANY(%s) GROUP BY account_id
              ) d ON d.account_id = a.id
             WHERE a.id = ANY(%s)
            """,  # noqa: S608 - table names come from the models
            [list(account_ids), list(account_ids)],
        )
        return {row[0]: Balance(*(int(value) for value in row[1:])) for row in cursor.fetchall()}


def _balance_from_transfers(account_id: int, upto: Q) -> Balance:
    """Recompute an account's counters from the transfers matching `upto` (a cut of the log)."""
    closed_by_then = Exists(Transfer.objects.filter(upto, pending_id=OuterRef("pk")))
    touching = Q(debit_account_id=account_id) | Q(credit_account_id=account_id)
    open_pending = Q(kind=TransferKind.PENDING) & ~closed_by_then
    sums = Transfer.objects.filter(touching, upto).aggregate(
        debits_pending=Coalesce(
            Sum("amount_minor", filter=Q(debit_account_id=account_id) & open_pending), 0
        ),
        debits_posted=Coalesce(
            Sum("amount_minor", filter=Q(debit_account_id=account_id, kind__in=POSTING_KINDS)), 0
        ),
        credits_pending=Coalesce(
            Sum("amount_minor", filter=Q(credit_account_id=account_id) & open_pending), 0
        ),
        credits_posted=Coalesce(
            Sum("amount_minor", filter=Q(credit_account_id=account_id, kind__in=POSTING_KINDS)),
            0,
        ),
    )
    return Balance(**{name: int(value) for name, value in sums.items()})


# --- history -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryRow:
    transfer: Transfer
    balance: Balance  # the account's balance just after this transfer


@dataclass(frozen=True, slots=True)
class HistoryPage:
    rows: list[HistoryRow]
    next_cursor: str | None  # pass back as `cursor` for the following page


def _parse_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        created_at, transfer_id = cursor.split("|")
        parsed = dt.datetime.fromisoformat(created_at)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, uuid.UUID(transfer_id)
    except (ValueError, AttributeError):
        raise InvalidTransfer("cursor is not one this ledger issued", field="cursor") from None


def account_history(account_id: int, *, cursor: str | None = None, limit: int = 50) -> HistoryPage:
    """The account's transfers ordered by (created_at, id), each with the balance after it."""
    if not 0 < limit <= MAX_HISTORY_PAGE:
        raise InvalidTransfer(f"limit must be between 1 and {MAX_HISTORY_PAGE}", field="limit")
    if not Account.objects.filter(id=account_id).exists():
        raise AccountNotFound(f"ledger account {account_id} does not exist")
    touching = Q(debit_account_id=account_id) | Q(credit_account_id=account_id)
    rows = Transfer.objects.filter(touching).select_related("pending").order_by("created_at", "id")
    if cursor is None:
        balance = ZERO
    else:
        created_at, transfer_id = _parse_cursor(cursor)
        upto = Q(created_at__lt=created_at) | Q(created_at=created_at, id__lte=transfer_id)
        balance = _balance_from_transfers(account_id, upto)
        rows = rows.exclude(upto)
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    out = []
    dp, dpo, cp, cpo = (
        balance.debits_pending,
        balance.debits_posted,
        balance.credits_pending,
        balance.credits_posted,
    )
    for transfer in page:
        released = transfer.pending.amount_minor if transfer.pending_id else 0
        pending_change, posted_change = {
            TransferKind.POSTED: (0, transfer.amount_minor),
            TransferKind.PENDING: (transfer.amount_minor, 0),
            TransferKind.POST_PENDING: (-released, transfer.amount_minor),
            TransferKind.VOID_PENDING: (-released, 0),
        }[transfer.kind]
        if transfer.debit_account_id == account_id:
            dp += pending_change
            dpo += posted_change
        else:
            cp += pending_change
            cpo += posted_change
        out.append(HistoryRow(transfer, Balance(dp, dpo, cp, cpo)))
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = f"{last.created_at.isoformat()}|{last.id}"
    return HistoryPage(out, next_cursor)


# --- trial balance -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrialBalance:
    """Per currency: the sums of every account's counters. Both nets are zero, always."""

    currency: str
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int

    @property
    def net_posted(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def net_pending(self) -> int:
        return self.credits_pending - self.debits_pending


def trial_balance() -> dict[str, TrialBalance]:
    """Totals per currency over all accounts (counters + unfolded deltas, one statement)."""
    account_table = Account._meta.db_table
    delta_table = BalanceDelta._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT currency, SUM(dp), SUM(dpo), SUM(cp), SUM(cpo) FROM (
                SELECT currency, debits_pending AS dp, debits_posted AS dpo,
                       credits_pending AS cp, credits_posted AS cpo
                  FROM {account_table}
                UNION ALL
                SELECT a.currency, d.debits_pending, d.debits_posted,
                       d.credits_pending, d.credits_posted
                  FROM {delta_table} d JOIN {account_table} a ON a.id = d.account_id
            ) x GROUP BY currency ORDER BY currency
            """  # noqa: S608 - table names come from the models
        )
        return {
            row[0]: TrialBalance(row[0], *(int(value) for value in row[1:]))
            for row in cursor.fetchall()
        }
