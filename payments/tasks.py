"""Celery's autodiscover_tasks() imports `<app>.tasks` only: importing the sub-packages' task
modules here registers their tasks with every worker.

Task names are explicit (`name="payments.…"`) and stay as they are wherever a task lives: beat
schedules and queued messages carry them.
"""

from payments.checkout import tasks as checkout_tasks
from payments.dispatch import tasks as dispatch_tasks
from payments.flows import tasks as flows_tasks
from payments.fulfilment import tasks as fulfilment_tasks
from payments.orders import tasks as orders_tasks
from payments.providers import tasks as providers_tasks
from payments.webhooks import tasks as webhooks_tasks

TASK_MODULES = (
    checkout_tasks,
    dispatch_tasks,
    flows_tasks,
    fulfilment_tasks,
    orders_tasks,
    providers_tasks,
    webhooks_tasks,
)
