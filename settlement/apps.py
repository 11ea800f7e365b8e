from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "settlement"
    verbose_name = "Settlement"

    def ready(self) -> None:
        # Imported here, not at the top: an AppConfig module is imported before the models exist.
        from payments.fulfilment import confirmation
        from settlement.release.services import release_escrow

        # The one place payments releases escrow (a dispute resolved for the seller) calls this
        # in its own transaction: see payments/fulfilment/confirmation.py.
        confirmation.register_release_handler(release_escrow)
