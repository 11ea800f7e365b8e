"""Ledger periodic work (beat): fold hot-account deltas, void timed-out pending transfers.

Both are idempotent and bounded; a run that dies part way leaves work the next run finishes.
"""

from __future__ import annotations

from celery import shared_task

from ledger.errors import LedgerBusy
from ledger.services import ledger_fold_deltas, ledger_void_expired_pendings

FOLD_BATCH = 10_000
FOLD_MAX_BATCHES = 20


@shared_task(
    name="ledger.tasks.fold_balance_deltas",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(LedgerBusy,),
    retry_backoff=True,
    max_retries=3,
)
def fold_balance_deltas() -> int:
    """Fold up to FOLD_MAX_BATCHES x FOLD_BATCH delta rows, one transaction per batch."""
    total = 0
    for _ in range(FOLD_MAX_BATCHES):
        folded = ledger_fold_deltas(limit=FOLD_BATCH)
        total += folded
        if folded < FOLD_BATCH:
            break
    return total


@shared_task(
    name="ledger.tasks.void_expired_pending_transfers",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(LedgerBusy,),
    retry_backoff=True,
    max_retries=3,
)
def void_expired_pending_transfers() -> int:
    """Void pending transfers whose timeout passed (the void id is derived from the pending id)."""
    return ledger_void_expired_pendings()
