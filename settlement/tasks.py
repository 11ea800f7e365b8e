"""The settlement tasks Celery finds (autodiscover looks for this module)."""

from settlement.payouts.tasks import (
    make_batches,
    mature_balances,
    payout_check,
    payout_submit,
    payouts_sweep,
)

__all__ = ["make_batches", "mature_balances", "payout_check", "payout_submit", "payouts_sweep"]
