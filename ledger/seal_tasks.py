"""The periodic seal. Beat runs it (suggested: every 60 s); it is safe to run at any time and twice.

Kept apart from ledger/tasks.py (the posting side's tasks); LedgerConfig.ready() imports it so that
workers know the task.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from ledger.seals import ledger_seal


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
    """Append queued transfers to the log and seal it if it grew; returns the new tree size."""
    seal = ledger_seal()
    return seal.tree_size if seal else None
