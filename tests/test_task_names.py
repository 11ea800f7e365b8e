"""Task names are persisted in beat schedules and queued messages: every one keeps the name it
had before the tasks moved into sub-packages (some now live in settlement), and what a worker's
autodiscovery imports (each installed app's `tasks` module) registers all of them."""

from importlib import import_module
from importlib.util import find_spec

from django.apps import apps

from config.celery import app as celery_app

TASK_NAMES = {
    "payments.auto_confirm_due",
    "payments.capture_automatic",
    "payments.deliver_webhook",
    "payments.dispatch_order_event",
    "payments.dispatch_order_events",
    "payments.expire_acceptance",
    "payments.expire_due",
    "payments.order_documents_sweep",
    "payments.order_tasks.expire_checkout_sessions",
    "payments.order_tasks.expire_unpaid_orders",
    "payments.recover_stale",
    "payments.refund_execute",
    "payments.refunds_sweep",
    "payments.release_at_provider",
    "payments.sandbox_wallet_deliver_notice",
    "payments.seal_order_documents",
    "payments.settle_sub_order_holds",
    "payments.webhook_sweep",
}


def _autodiscover() -> None:
    for config in apps.get_app_configs():
        if find_spec(f"{config.name}.tasks") is not None:
            import_module(f"{config.name}.tasks")


def test_every_task_keeps_its_name_and_autodiscovery_registers_it(settings):
    _autodiscover()
    registered = {name for name in celery_app.tasks if name.startswith("payments.")}
    assert registered == TASK_NAMES
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in celery_app.tasks
