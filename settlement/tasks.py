"""The settlement tasks Celery finds (autodiscover looks for this module)."""

from settlement.dashboard.tasks import dashboard_daily_totals
from settlement.payouts.tasks import (
    make_batches,
    mature_balances,
    payout_check,
    payout_submit,
    payouts_sweep,
)

__all__ = [
    "dashboard_daily_totals",
    "make_batches",
    "mature_balances",
    "payout_check",
    "payout_submit",
    "payouts_sweep",
]
