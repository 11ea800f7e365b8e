from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        # Celery autodiscovery only finds tasks.py; the sealing task lives in seal_tasks.py.
        from ledger import seal_tasks  # noqa: F401
