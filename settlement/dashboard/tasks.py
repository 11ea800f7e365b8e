"""The dashboard's periodic work (imported by settlement/tasks.py, where Celery looks)."""

from __future__ import annotations

from celery import shared_task

from settlement.dashboard.daily_totals import daily_totals_refresh


@shared_task(name="settlement.dashboard_daily_totals", acks_late=True, ignore_result=True)
def dashboard_daily_totals() -> int:
    """Beat, every minute: add the ledger's new log entries to sellers' daily totals (idempotent:
    a cursor moved in the same transaction; a lost run is made up by the next)."""
    return daily_totals_refresh()
