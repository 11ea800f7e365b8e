"""Celery's autodiscover_tasks() imports `<app>.tasks` only: importing the sub-packages' task
modules here registers their tasks with every worker. Task names stay as they were when the release
tasks lived in payments (`payments.auto_confirm_due`): beat schedules and queued messages carry
them."""

from settlement.confirmations import tasks as confirmation_tasks
from settlement.dashboard import tasks as dashboard_tasks
from settlement.payouts import tasks as payout_tasks
from settlement.reconciliation import tasks as reconciliation_tasks
from settlement.release import tasks as release_tasks

TASK_MODULES = (
    release_tasks,
    payout_tasks,
    dashboard_tasks,
    confirmation_tasks,
    reconciliation_tasks,
)
