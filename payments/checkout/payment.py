"""Start a payment for an order from a storefront or hosted-checkout page, and say where to go next.

The order (and its stock reservation) is committed before this runs: the provider is called with
no storefront lock held. Whatever happens the buyer lands on a page that tells the truth: the
provider's next step (3-D Secure, wallet, bank instructions), the paid order, or the retry page
with the reason in plain words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme

from core.errors import ApplicationError
from payments.flows.models import Payment, PaymentStatus
from payments.flows.services import payment_start
from payments.orders.models import Order
from payments.orders.payment_outcomes import order_extend_payment_window, order_mark_payment_failed

logger = logging.getLogger(__name__)

GENERIC_FAILURE = "The payment did not go through. Try again or choose another method."


@dataclass(frozen=True)
class PaymentOutcome:
    payment: Payment | None
    # Where the buyer goes now: a provider page, or None for "the page that called us decides".
    next_url: str | None
    paid: bool
    failure_message: str = ""
    bank_transfer: dict | None = None


def _safe_local_url(url: Any) -> str | None:
    if isinstance(url, str) and url.startswith("/") and url_has_allowed_host_and_scheme(url, None):
        return url
    return None


def checkout_pay(
    *,
    order: Order,
    method: str,
    wallet: str | None,
    card: Any,
    actor: str,
    return_url: str,
) -> PaymentOutcome:
    try:
        start = payment_start(
            order=order,
            method=method,
            actor=actor,
            card=card,
            wallet=wallet,
            return_url=return_url,
        )
    except ApplicationError as error:
        # Refused before any money moved (e.g. a payment already in progress): release nothing
        # twice, tell the buyer why. The order keeps its reservation until it expires or fails.
        logger.info("payment_start refused for order %s: %s", order.number, error.code)
        return PaymentOutcome(
            payment=None, next_url=None, paid=False, failure_message=error.message
        )

    payment, action = start.payment, start.next_action
    if action is None:
        if payment.status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED):
            return PaymentOutcome(payment=payment, next_url=None, paid=True)
        message = payment.failure_message or GENERIC_FAILURE
        # The payment side tells us itself; calling again is a no-op (idempotent).
        order_mark_payment_failed(order=order, reason=message)
        return PaymentOutcome(payment=payment, next_url=None, paid=False, failure_message=message)

    kind = action.get("type")
    if kind == "bank_transfer":
        deadline = action.get("expires_at")
        if isinstance(deadline, str):
            deadline = parse_datetime(deadline)
        if isinstance(deadline, datetime):
            order_extend_payment_window(order=order, until=deadline)
        url = _safe_local_url(action.get("url")) or f"/pay/bank/{payment.id}/"
        return PaymentOutcome(payment=payment, next_url=url, paid=False, bank_transfer=action)
    url = _safe_local_url(action.get("url"))
    if url is None:
        logger.warning("payment %s: next_action without a local url (%s)", payment.id, kind)
        return PaymentOutcome(payment=payment, next_url=None, paid=False)
    return PaymentOutcome(payment=payment, next_url=url, paid=False)
