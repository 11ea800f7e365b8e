"""Payments whose request died between its start and the provider's answer (status `created`), and
how they reach their true state: by the expiry sweeper (payments.flows.expiry, within two minutes)
or at once by the client's retry with the same Idempotency-Key (PaymentViewSet.create).

Both go through `payment_recover`, under a session advisory lock on the payment, so the sweeper
and a retry never recover one payment at the same time: the sweeper may find the processor never
saw the charge and fail the payment, while the retry, which holds the card, would charge it.
Holding the lock, each reads the payment again and acts only if it is still `created`.

The original request takes no lock (it is the hot path): the sweeper leaves a payment alone until
it is PAYMENTS_RECOVER_AFTER_S old, far beyond any live request (gunicorn's timeout kills one
long before), and a retry only runs once the original's Idempotency-Key claim is free, which means
that request has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.views.decorators.debug import sensitive_variables

from core.errors import TryAgainLater
from core.fast_sql import fetch_all
from payments.flows import authorize
from payments.flows.authorize import authorize_request, authorize_with_retries
from payments.flows.capture import capture_if_automatic, sale_wanted
from payments.flows.models import Payment, PaymentMethod, PaymentStatus
from payments.providers.base import ProviderResult
from payments.providers.registry import get_provider
from payments.vault.cards import CardInput
from payments.vault.services import card_in_memory

logger = logging.getLogger(__name__)

_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"
_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"


class PaymentBeingRecovered(TryAgainLater):
    """This payment is being brought up to date by another process; ask again in a moment."""

    code = "payment_processing"
    retry_after_s = 2


@contextmanager
def _recovery_lock(payment_id) -> Iterator[bool]:
    """Whether this connection got the payment's recovery lock (held for the block)."""
    name = f"payment-recovery:{payment_id}"
    got = bool(fetch_all(_LOCK_SQL, [name])[0][0])
    try:
        yield got
    finally:
        if got and connection.is_usable():
            fetch_all(_UNLOCK_SQL, [name])


@sensitive_variables("card")
def payment_recover(payment_id, *, actor: str, card: CardInput | None = None) -> Payment | None:
    """Bring a payment left `created` to the provider's answer; returns it (None: another process
    is recovering it). `card`: the card in the retry's body (the same as the first attempt's, as
    the Idempotency-Key's fingerprint guarantees): the processor is asked again under the payment's
    own idempotency key, so it charges at most once and answers with the charge it made, if any.
    Without a card (the sweeper) a card processor is only asked what it did under that key."""
    with _recovery_lock(payment_id) as got:
        if not got:
            return None
        payment = Payment.objects.select_related("order", "vaulted_card").get(pk=payment_id)
        if payment.status != PaymentStatus.CREATED:
            return payment
        result = _provider_answer(payment, card)
        payment = authorize.apply_authorize_result(
            payment_id=payment.id, result=result, actor=actor
        )
        return capture_if_automatic(payment, actor=actor)


def payment_recover_for_retry(payment: Payment, *, actor: str, card: CardInput | None) -> Payment:
    """The retry's view of its own payment: recovered if it is still `created`, else as it is."""
    if payment.status != PaymentStatus.CREATED:
        return payment
    recovered = payment_recover(payment.id, actor=actor, card=card)
    if recovered is None:
        raise PaymentBeingRecovered(extra={"payment_id": str(payment.id)})
    return recovered


@sensitive_variables("card")
def _provider_answer(payment: Payment, card: CardInput | None) -> ProviderResult:
    key = f"payment:{payment.id}:authorize"
    if payment.method == PaymentMethod.CARD and card is None:
        result = get_provider(payment.provider).lookup(idempotency_key=key)
        if result is None:  # the processor never saw it: nothing was charged
            return ProviderResult(status="failed", reference="", failure_code="processing_error")
        return result
    return authorize_with_retries(
        payment_id=payment.id,
        request=authorize_request(
            payment,
            cvc=card.cvc if card is not None else "",
            card=card_in_memory(card) if card is not None else None,
            capture=sale_wanted(payment),
        ),
        provider_name=payment.provider,
    )
