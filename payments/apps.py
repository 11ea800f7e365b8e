from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        # Signal receivers: seal order documents when a seller's encryption key appears or a
        # password reset replaces the dashboard keys.
        from payments.fulfilment import documents as order_documents  # noqa: F401
