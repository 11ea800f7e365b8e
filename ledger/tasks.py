"""Ledger periodic work (beat): fold hot-account deltas, void timed-out pending transfers, seal.

All are idempotent and bounded; a run that dies part way leaves work the next run finishes.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from ledger.errors import LedgerBusy
from ledger.seals import ledger_seal
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


@shared_task(
    name="ledger.seal_ledger",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    ignore_result=True,
)
def seal_ledger() -> int | None:
    """Append queued transfers to the log and seal it if it grew; returns the new tree size.

    Beat runs it every 60 s; it is safe to run at any time and twice.
    """
    seal = ledger_seal()
    return seal.tree_size if seal else None
