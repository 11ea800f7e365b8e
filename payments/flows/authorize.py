"""Authorisation: ask the provider (bounded retries with backoff, always the same idempotency key)
and apply its answer.

Every authorisation is one statement (payments.flows.authorize_plpgsql.apply_authorized). An
automatic-capture payment whose provider can authorise and capture in one call (a "sale",
ProviderFeatures.captures_with_authorize) asks for it and applies the "captured" answer in one
statement (_apply_sale); with any other provider it is authorised, then captured
(capture.capture_if_automatic).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from payments import conf
from payments.flows import authorize_plpgsql, capture_plpgsql, start_plpgsql, unpayable
from payments.flows.failure_messages import buyer_message
from payments.flows.models import Payment, PaymentMethod, PaymentStatus
from payments.flows.state import transition_once
from payments.providers.base import (
    AuthorizeRequest,
    ProviderError,
    ProviderResult,
    ProviderUnavailable,
)
from payments.providers.registry import get_provider
from payments.vault.services import DetokenizedCard

logger = logging.getLogger(__name__)
S = PaymentStatus

# Injected so tests can see the backoff without waiting for it.
sleep = time.sleep


def _expiry_for(method: str):
    now = timezone.now()
    if method == PaymentMethod.BANK_TRANSFER:
        return now + timedelta(days=int(conf.get("BANK_TRANSFER_EXPIRY_DAYS")))
    if method == PaymentMethod.WALLET:
        return now + timedelta(seconds=int(conf.get("PAYMENTS_WALLET_TIMEOUT_S")))
    return now + timedelta(seconds=int(conf.get("PAYMENTS_3DS_TIMEOUT_S")))


@sensitive_variables("cvc", "card")
def authorize_request(
    payment: Payment,
    *,
    cvc: str = "",
    card: DetokenizedCard | None = None,
    capture: bool = False,
) -> AuthorizeRequest:
    """`cvc` and `card` only in the request that received the card (the card in memory spares the
    processor reading back the vault row just written); a retry or recovery task has neither."""
    return AuthorizeRequest(
        payment_id=str(payment.id),
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        # The idempotency key: the same for every attempt, retry and recovery of this payment.
        idempotency_key=f"payment:{payment.id}:authorize",
        description=f"Order {payment.order.number}",
        card_token=payment.vaulted_card.token if payment.vaulted_card_id else "",
        cvc=cvc,
        card=card,
        notify_url=conf.get("PAYMENTS_PUBLIC_BASE_URL").rstrip("/")
        + reverse("pay:notify", args=[payment.provider]),
        reference=payment.bank_reference or "",
        capture=capture,
    )


def authorize_with_retries(
    *,
    payment_id,
    request: AuthorizeRequest,
    provider_name: str | None = None,
    attempts_recorded: int = 0,
) -> ProviderResult:
    """Call the provider; retry a retryable failure a bounded number of times with exponential
    backoff, always with the same idempotency key (as Stripe's client libraries do).
    `attempts_recorded`: Payment.provider_attempts already counts that many (the fast path's
    start writes 1), so those attempts need no UPDATE of their own."""
    if provider_name is None:
        provider_name = Payment.objects.values_list("provider", flat=True).get(pk=payment_id)
    provider = get_provider(provider_name)
    attempts = max(1, int(conf.get("PAYMENTS_PROVIDER_MAX_ATTEMPTS")))
    backoff_s = float(conf.get("PAYMENTS_PROVIDER_RETRY_BACKOFF_S"))
    result = None
    for attempt in range(1, attempts + 1):
        if attempt > attempts_recorded:
            Payment.objects.filter(pk=payment_id).update(provider_attempts=attempt)
        try:
            result = provider.authorize(request)
        except ProviderUnavailable:
            result = ProviderResult(
                status="failed", reference="", failure_code="provider_unavailable", retryable=True
            )
        except ProviderError as exc:
            result = ProviderResult(status="failed", reference="", failure_code=exc.code)
        if not (result.status == "failed" and result.retryable):
            return result
        logger.warning(
            "payment %s: %s on attempt %d of %d", payment_id, result.failure_code, attempt, attempts
        )
        if attempt < attempts:
            sleep(backoff_s * 2 ** (attempt - 1))
    assert result is not None
    if result.failure_code == "provider_unavailable":
        # Every answer was lost: the far side may have authorised (or, for a sale, captured)
        # under the key. Ask what it did before telling the buyer that nothing was charged. A
        # lookup that cannot get through either raises: the payment stays created, and the
        # recovery sweeper (expiry.payments_recover_stale) settles it later.
        found = provider.lookup(idempotency_key=request.idempotency_key)
        if found is not None:
            return found
    return result


def _payment_method(payment_id) -> str:
    return Payment.objects.values_list("method", flat=True).get(pk=payment_id)


def apply_authorize_result(
    *,
    payment_id,
    result: ProviderResult,
    actor: str,
    started: start_plpgsql.Started | None = None,
) -> Payment:
    """Apply the provider's answer to the payment (`started`: the fast path's start, which saves
    reading the payment and its sub-orders again)."""
    data = {"provider_status": result.status, "failure_code": result.failure_code}
    if result.status in {"captured", "authorized"}:
        try:
            return _apply_approved(
                payment_id=payment_id, result=result, actor=actor, data=data, started=started
            )
        except unpayable.ORDER_REFUSALS as error:
            # The money moved at the provider but the order cannot take it: fail, release there.
            _record_reference(payment_id, result.reference)
            return unpayable.fail_unpayable(
                payment_id=payment_id,
                error=error,
                actor=actor,
                captured=result.status == "captured",
            )
    if result.status == "requires_action":
        return transition_once(
            payment_id=payment_id,
            to_status=S.REQUIRES_ACTION,
            actor=actor,
            reason="the buyer must act (3-D Secure or wallet approval)",
            data=data,
            fields={
                "provider_reference": result.reference,
                "expires_at": _expiry_for(_payment_method(payment_id)),
            },
        )
    if result.status == "pending":
        return transition_once(
            payment_id=payment_id,
            to_status=S.AWAITING_TRANSFER,
            actor=actor,
            reason="waiting for the bank transfer",
            data=data,
            fields={"expires_at": _expiry_for(_payment_method(payment_id))},
        )
    code = result.failure_code or "failed"
    fields = {"failure_code": code, "failure_message": buyer_message(code)}
    if result.reference:
        fields["provider_reference"] = result.reference
    return transition_once(
        payment_id=payment_id,
        to_status=S.FAILED,
        actor=actor,
        reason=f"declined: {code}",
        data=data,
        fields=fields,
    )


def _apply_approved(
    *,
    payment_id,
    result: ProviderResult,
    actor: str,
    data: dict,
    started: start_plpgsql.Started | None,
) -> Payment:
    if result.status == "captured":
        return _apply_sale(
            payment_id=payment_id, result=result, actor=actor, data=data, started=started
        )
    payment, _outcome = authorize_plpgsql.apply_authorized(
        payment_id=payment_id,
        reference=result.reference,
        actor=actor,
        reason="authorised by the provider",
        data=data,
        started=started,
    )
    return payment


def _record_reference(payment_id, reference: str) -> None:
    """The provider's reference of a refused authorisation: needed to release the money there."""
    if reference:
        Payment.objects.filter(pk=payment_id, provider_reference="").update(
            provider_reference=reference
        )


def _apply_sale(
    *,
    payment_id,
    result: ProviderResult,
    actor: str,
    data: dict,
    started: start_plpgsql.Started | None = None,
) -> Payment:
    """The provider authorised and captured at once (a sale): authorized then captured in ONE
    statement (authorize_plpgsql.apply_authorized with capture). A replay of a payment already
    captured returns it quietly; one authorised already (only the capture left) is captured."""
    payment, outcome = authorize_plpgsql.apply_authorized(
        payment_id=payment_id,
        reference=result.reference,
        actor=actor,
        reason="authorised by the provider",
        data=data,
        started=started,
        capture=True,
        captured_minor=result.captured_minor,
    )
    if outcome == "authorized":
        capture_plpgsql.capture_payment(
            payment, actor=actor, data={"captured_minor": result.captured_minor}
        )
    return payment
