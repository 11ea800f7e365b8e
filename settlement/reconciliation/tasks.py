"""Beat: fetch the platform account's camt.053 statement of a day from the bank, import it and
match. Idempotent: a statement already imported changes nothing; matching is safe to repeat.
Retried with backoff while the bank is unreachable."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.utils import timezone

from settlement.gateways.base import BankUnavailable
from settlement.gateways.registry import get_bank_gateway
from settlement.reconciliation.imports import (
    StatementConflict,
    import_statement_file,
    queue_conflict,
)
from settlement.reconciliation.matching import run_matching

logger = logging.getLogger(__name__)


def fetch_statement(day: dt.date) -> dict:
    """Import and match the bank's statement for `day`. A statement the bank sent before with
    other content is not imported: it becomes a work item for staff."""
    data = get_bank_gateway().statement(day=day)
    try:
        result = import_statement_file(
            data, filename=f"camt053-{day.isoformat()}.xml", actor="beat", fmt="camt053"
        )
    except StatementConflict as conflict:
        item = queue_conflict(conflict)
        logger.error("statement of %s not imported, work item %s: %s", day, item.pk, conflict)
        return {"day": day.isoformat(), "message": str(conflict), "work_item": item.pk}
    matched = run_matching()
    return {
        "day": day.isoformat(),
        "message": result.message,
        "lines": result.lines,
        "matched": matched.matched,
        "unmatched": matched.unmatched,
    }


@shared_task(
    name="settlement.fetch_bank_statement",
    acks_late=True,
    autoretry_for=(BankUnavailable,),
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=8,
    ignore_result=True,
)
def fetch_bank_statement(day: str | None = None) -> dict:
    """Yesterday's statement (UTC) unless a day is given (YYYY-MM-DD)."""
    when = dt.date.fromisoformat(day) if day else timezone.now().date() - dt.timedelta(days=1)
    return fetch_statement(when)
