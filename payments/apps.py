from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        # Imported here, not at the top: an AppConfig module is imported before the models exist.
        from payments.dispatch.tasks import dispatch_order_events
        from payments.fulfilment import documents
        from payments.orders import fanout

        # orders publishes committed events to the fan-out above every layer (orders/fanout.py).
        fanout.set_dispatch_task(dispatch_order_events)
        # Signal receivers: seal order documents when a seller's encryption key appears or a
        # password reset replaces the dashboard keys.
        assert documents
