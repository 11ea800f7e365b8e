from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        # Imported here, not at the top: an AppConfig module is imported before the models exist.
        from accounts import key_listeners
        from payments.dispatch.tasks import dispatch_order_events
        from payments.fulfilment import documents
        from payments.orders import fanout

        # orders publishes committed events to the fan-out above every layer (orders/fanout.py).
        fanout.set_dispatch_task(dispatch_order_events)
        # accounts' key services call these explicitly: seal order documents when a seller's
        # encryption key appears, re-seal open ones when a password reset replaces the keys.
        key_listeners.listen_encryption_key_registered(documents.order_documents_on_encryption_key)
        key_listeners.listen_dashboard_keys_replaced(documents.order_documents_on_keys_replaced)
