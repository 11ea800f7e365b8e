"""Provider events: the 3-D Secure result and wallet notifications, verified and applied to the
payment under its row lock.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from core.errors import NotFound, ValidationError
from payments.flows import capture, unpayable
from payments.flows.capture import captures_automatically
from payments.flows.failure_messages import buyer_message
from payments.flows.models import Payment, PaymentMethod, PaymentStatus
from payments.flows.state import payment_transition
from payments.flows.transitions import lock_payment
from payments.providers.base import InvalidNotification, NotificationEvent
from payments.providers.registry import get_provider

logger = logging.getLogger(__name__)
S = PaymentStatus


def apply_provider_event(
    *, payment_id, event: NotificationEvent, actor: str
) -> tuple[Payment, str]:
    """Apply a verified provider event. Returns (payment, outcome) where outcome is "applied",
    "duplicate" (already in that state) or "ignored" (out of order or too late). Mismatched
    reference or amount raise InvalidNotification with nothing written."""
    with transaction.atomic():
        payment = lock_payment(payment_id)
        if event.reference != payment.provider_reference or event.provider != payment.provider:
            raise InvalidNotification(
                "The notification is for another payment.", code="wrong_payment"
            )
        if event.amount_minor != payment.amount_minor or event.currency != payment.currency:
            raise InvalidNotification(
                "The notification's amount does not match the payment.", code="amount_mismatch"
            )
        data = {"notify_id": event.notify_id, "provider_status": event.status}
        status = payment.status
        if event.status == "authorized":
            if status in {S.CREATED, S.REQUIRES_ACTION}:
                try:
                    payment = payment_transition(
                        payment_id=payment.id,
                        to_status=S.AUTHORIZED,
                        actor=actor,
                        reason="authorised by the provider",
                        data=data,
                    )
                except unpayable.ORDER_REFUSALS as error:
                    # The order expired or sold out during the approval: fail, release there.
                    payment = unpayable.fail_unpayable(
                        payment_id=payment.id, error=error, actor=actor
                    )
                    return payment, "applied"
                if captures_automatically(payment):
                    capture.enqueue_automatic_capture(payment.id)
                return payment, "applied"
            if status in {S.AUTHORIZED, S.CAPTURED}:
                return payment, "duplicate"
            # Authorised at the provider after we gave up on it: release the money there.
            # tasks.py imports this module: the task is looked up when it is enqueued.
            from payments.flows.tasks import payment_release_at_provider

            payment_id_text = str(payment.id)
            transaction.on_commit(lambda: payment_release_at_provider.delay(payment_id_text))
            logger.warning("payment %s: late authorisation while %s; releasing", payment.id, status)
            return payment, "ignored"
        if event.status in {"failed", "voided"}:
            if status in {S.CREATED, S.REQUIRES_ACTION}:
                code = event.raw.get("failure_code") or (
                    "wallet_cancelled" if payment.method == PaymentMethod.WALLET else "failed"
                )
                payment = payment_transition(
                    payment_id=payment.id,
                    to_status=S.FAILED,
                    actor=actor,
                    reason=f"provider reports {event.status}: {code}",
                    data=data,
                    fields={"failure_code": code, "failure_message": buyer_message(code)},
                )
                return payment, "applied"
            return payment, "duplicate" if status == S.FAILED else "ignored"
        # requires_action (the buyer has not paid yet) and captured (we drive captures) change
        # nothing here.
        return payment, "ignored"


def payment_complete_challenge(*, payment_id, outcome: str, actor: str) -> Payment:
    """The buyer answered the 3-D Secure challenge: "pass", "fail" or "abandon" (cancelled or
    timed out). Answering again after the payment is decided changes nothing."""
    if outcome not in {"pass", "fail", "abandon"}:
        raise ValidationError("Unknown challenge outcome.", field="outcome")
    payment = Payment.objects.filter(pk=payment_id, method=PaymentMethod.CARD).first()
    if payment is None:
        raise NotFound("No such payment.", code="payment_not_found")
    if payment.status != S.REQUIRES_ACTION:
        return payment
    provider = get_provider(payment.provider)
    params = provider.complete_challenge(reference=payment.provider_reference, outcome=outcome)
    event = provider.handle_notification(params)
    payment, _outcome = apply_provider_event(payment_id=payment.id, event=event, actor=actor)
    return payment


def parse_payment_id(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None
