"""Authorised at the provider, but the order can no longer be paid: it expired while the buyer
answered 3-D Secure or approved in the wallet, or another buyer took the last unit meanwhile.

The authorisation statement refuses (nothing written); the payment then fails with a message that
says what happened, and the money is released at the provider at once, after the failure commits
(a sale, authorised and captured in one call, is refunded instead). A provider that is down then
is retried by the payments.release_at_provider task.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.errors import ApplicationError
from payments.flows.capture import payment_release_late_authorization
from payments.flows.failure_messages import buyer_message
from payments.flows.models import Payment, PaymentStatus
from payments.flows.state import transition_once
from payments.orders.errors import OrderNotPayable, OutOfStock, UnknownProduct
from payments.providers.base import ProviderError

# The refusals of the order's side of an authorisation (payments_order_mark_paid).
ORDER_REFUSALS = (OrderNotPayable, OutOfStock, UnknownProduct)


def fail_unpayable(
    *, payment_id: Any, error: ApplicationError, actor: str, captured: bool = False
) -> Payment:
    """The payment fails (order_not_payable or out_of_stock) and its money is released at the
    provider once that commits. `captured`: the provider took the money (a sale)."""
    code = "out_of_stock" if isinstance(error, OutOfStock) else "order_not_payable"
    payment = transition_once(
        payment_id=payment_id,
        to_status=PaymentStatus.FAILED,
        actor=actor,
        reason=f"authorised, but the order cannot be paid: {error.code}",
        data={"refusal": error.code, "captured_at_provider": captured},
        fields={"failure_code": code, "failure_message": buyer_message(code)},
    )
    release_after_commit(payment.id, captured=captured)
    return payment


def release_after_commit(payment_id: Any, *, captured: bool) -> None:
    """Release at the provider right after the caller commits (at once outside a transaction);
    the task retries when the provider does not answer."""
    payment_id_text = str(payment_id)

    def release() -> None:
        try:
            payment_release_late_authorization(payment_id=payment_id_text, captured=captured)
        except ProviderError:
            # tasks.py imports flows modules: the task is looked up when it is enqueued.
            from payments.flows.tasks import payment_release_at_provider

            payment_release_at_provider.delay(payment_id_text, captured)

    transaction.on_commit(release, robust=True)
