"""Start a payment: by card, wallet or bank transfer.

The shape of every flow: a short transaction writes what we know (the Payment, the vaulted card),
the provider is called with no lock or transaction held, and the provider's answer is applied
through payments.flows.state.payment_transition under the Payment's row lock. Each provider call
carries an idempotency key derived from the payment ("payment:<id>:authorize"), so a retry after a
timeout or a crash gets the first answer back instead of a second authorisation.

A card payment's start is one statement (payments.flows.start_plpgsql.start_payment); then the
provider is asked (payments.flows.authorize).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.http import url_has_allowed_host_and_scheme

from core.errors import Conflict, ValidationError
from payments.flows import authorize, start_plpgsql
from payments.flows.authorize import authorize_request, authorize_with_retries
from payments.flows.capture import (
    CAPTURE_MANUAL,
    capture_if_automatic,
    check_capture_method,
    sale_wanted,
)
from payments.flows.models import Payment, PaymentMethod, PaymentStatus
from payments.flows.pages import next_action_for
from payments.orders.models import Order
from payments.providers.registry import provider_for
from payments.providers.rf_reference import generate as generate_rf_reference
from payments.vault.cards import CardInput
from payments.vault.services import card_in_memory

S = PaymentStatus


@dataclass(frozen=True)
class PaymentStart:
    payment: Payment
    next_action: dict | None


def check_return_url(return_url: str) -> str:
    return_url = (return_url or "").strip()
    if not return_url:
        return ""
    # Only paths on this site: an open redirect would send buyers anywhere after paying.
    if (
        len(return_url) > 500
        or not return_url.startswith("/")
        or not url_has_allowed_host_and_scheme(return_url, allowed_hosts=None)
    ):
        raise ValidationError("The return URL must be a path on this site.", field="return_url")
    return return_url


def _new_bank_reference() -> str:
    for _ in range(5):  # 34^16 references: a collision is all but impossible; bounded anyway
        reference = generate_rf_reference()
        if not Payment.objects.filter(bank_reference=reference).exists():
            return reference
    raise Conflict("Could not issue a unique transfer reference; try again.")


def payment_start(
    *,
    order: Order,
    method: str,
    actor: str,
    card: CardInput | None = None,
    wallet: str | None = None,
    return_url: str = "",
    capture_method: str = CAPTURE_MANUAL,
    request_key: str = "",
) -> PaymentStart:
    """Start paying `order` by card, wallet or bank transfer.

    Card: the card is vaulted, then authorised (3-D Secure may send the buyer to a challenge
    page). Wallet: a trade is created and the buyer sent to the wallet. Bank transfer: the buyer
    gets the account and a reference. A decline raises nothing: the payment is FAILED with a
    failure_code and a failure_message the buyer can read."""
    if method not in PaymentMethod.values:
        raise ValidationError("Choose card, wallet or bank transfer.", field="method")
    if method == PaymentMethod.CARD and not isinstance(card, CardInput):
        raise ValidationError("Enter your card details.", field="card")
    if method != PaymentMethod.CARD and card is not None:
        raise ValidationError("Card details are only for card payments.", field="card")
    return_url = check_return_url(return_url)
    check_capture_method(capture_method)
    provider = provider_for(method, wallet)
    return _start(
        order_id=order.pk,
        method=method,
        provider=provider.name,
        actor=actor,
        card=card,
        wallet=provider.name if method == PaymentMethod.WALLET else None,
        bank_reference=_new_bank_reference() if method == PaymentMethod.BANK_TRANSFER else None,
        return_url=return_url,
        capture_method=capture_method,
        request_key=request_key,
    )


def payment_start_card_for_buyer(
    *,
    order_id,
    buyer_id: int,
    actor: str,
    card: CardInput,
    return_url: str = "",
    capture_method: str = CAPTURE_MANUAL,
    request_key: str = "",
) -> PaymentStart:
    """The API's card payment: payment_start for the buyer's own order, the order lookup folded
    into the start statement (anyone else's order: NotFound, field "order"). The caller has
    checked the card and the return URL. `request_key`: the Idempotency-Key's scope, kept with the
    payment so that a retry of this request answers with it (payments.flows.recovery)."""
    return _start(
        order_id=order_id,
        method=PaymentMethod.CARD,
        provider=provider_for(PaymentMethod.CARD).name,
        actor=actor,
        card=card,
        return_url=return_url,
        capture_method=capture_method,
        buyer_id=buyer_id,
        check_buyer=True,
        request_key=request_key,
    )


def _start(*, card: CardInput | None, actor: str, **start) -> PaymentStart:
    """Started in one statement (start_plpgsql.start_payment); then, with no transaction and no
    lock held (the provider is on the far side of a network), authorised."""
    started = start_plpgsql.start_payment(card=card, actor=actor, **start)
    payment = started.payment
    result = authorize_with_retries(
        payment_id=payment.id,
        request=authorize_request(
            payment,
            cvc=card.cvc if card is not None else "",
            card=card_in_memory(card) if card is not None else None,
            capture=sale_wanted(payment),
        ),
        provider_name=payment.provider,
        attempts_recorded=payment.provider_attempts,
    )
    payment = authorize.apply_authorize_result(
        payment_id=payment.id, result=result, actor=actor, started=started
    )
    payment = capture_if_automatic(payment, actor=actor, started=started)
    return PaymentStart(payment=payment, next_action=next_action_for(payment))
