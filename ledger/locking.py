"""The ledger's one lock order.

1. Accounts with a limit flag, ascending id, FOR NO KEY UPDATE (the strength UPDATE itself takes: it
   does not block the FOR KEY SHARE that foreign-key checks of concurrent inserts take).
2. Nothing else is locked by posting. Accounts without a limit receive BalanceDelta rows instead of
   an UPDATE, so they are never locked by posters; closing a pending transfer twice is stopped by the
   `ledger_transfer_close_once` unique index, which makes the loser fail and retry into a clean error.
3. The delta folder locks delta rows (SKIP LOCKED) and then accounts without limits, ascending id.
   Posters never lock those accounts and the folder never locks limit accounts, so the two cannot
   deadlock; folders among themselves take accounts in the same order.

The PL/pgSQL fast path (ledger/sql/) follows the same order.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.models import Account


def lock_accounts(account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock these accounts in ascending id order and return them with fresh counters.

    Must run inside transaction.atomic. On SQLite the FOR UPDATE clause is dropped: writers are
    serialised by the database (transaction_mode IMMEDIATE), so the read is still exact.
    """
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    rows = Account.objects.select_for_update(no_key=True).filter(id__in=ids).order_by("id")
    return {account.id: account for account in rows}
