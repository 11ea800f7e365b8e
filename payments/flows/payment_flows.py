"""Payment services: start a payment, finish 3-D Secure, apply provider notifications, capture,
void, expire.

The shape of every flow: a short transaction writes what we know (the Payment, the vaulted card),
the provider is called with no lock or transaction held, and the provider's answer is applied
through payments.state.payment_transition under the Payment's row lock. Each provider call carries
an idempotency key derived from the payment ("payment:<id>:authorize"), so a retry after a timeout
or a crash gets the first answer back instead of a second authorisation.

A card payment's start is one statement (payments/fast_authorize.py); every authorisation is one
statement (fast_authorize.apply_authorized) and every capture one (fast_capture.capture_payment).
An automatic-capture payment whose provider can authorise and capture in one call (a "sale",
ProviderFeatures.captures_with_authorize) asks for it and applies the "captured" answer in one
statement (_apply_sale); with any other provider it is authorised, then captured
(capture_if_automatic).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables

from core.errors import Conflict, NotFound, ValidationError
from payments import conf
from payments.flows import authorize_plpgsql as fast_authorize
from payments.flows import capture_plpgsql as fast_capture
from payments.flows.failure_messages import buyer_message
from payments.flows.models import Payment, PaymentMethod, PaymentStatus
from payments.flows.state import IllegalTransition, lock_payment, payment_transition
from payments.orders.models import Order
from payments.providers import bank_transfer as bank_provider_module
from payments.providers.base import (
    AuthorizeRequest,
    InvalidNotification,
    NotificationEvent,
    ProviderError,
    ProviderResult,
    ProviderUnavailable,
)
from payments.providers.registry import get_provider, provider_for
from payments.providers.rf_reference import generate as generate_rf_reference
from payments.vault.cards import CardInput
from payments.vault.services import DetokenizedCard, card_in_memory

logger = logging.getLogger(__name__)
S = PaymentStatus

# Injected so tests can see the backoff without waiting for it.
sleep = time.sleep


@dataclass(frozen=True)
class PaymentStart:
    payment: Payment
    next_action: dict | None


# Capture methods (as Stripe's): "manual" leaves the money authorised until it is captured (staff,
# or each seller's acceptance, one sub-order at a time); "automatic" captures into escrow as soon
# as the payment is authorised, in the same request when the provider answers at once (else by
# the payments.capture_automatic task, re-driven by the expiry sweeper). Either way the money
# stays in platform:escrow until the order's release; a seller's rejection then refunds it.
CAPTURE_MANUAL = "manual"
CAPTURE_AUTOMATIC = "automatic"
CAPTURE_METHODS = (CAPTURE_MANUAL, CAPTURE_AUTOMATIC)


def _check_capture_method(capture_method: str) -> None:
    if capture_method not in CAPTURE_METHODS:
        raise ValidationError("Choose manual or automatic capture.", field="capture_method")


def captures_automatically(payment: Payment) -> bool:
    return (payment.details or {}).get("capture_method") == CAPTURE_AUTOMATIC


def _sale_wanted(payment: Payment) -> bool:
    """An automatic-capture payment whose provider authorises and captures in one call (a
    "sale"): asked for with AuthorizeRequest(capture=True), answered "captured"."""
    return (
        captures_automatically(payment)
        and get_provider(payment.provider).features.captures_with_authorize
    )


# --- links to the payment pages ---------------------------------------------------------------
_PAGE_SALT = "clearhouse.payments.page"


def page_token(payment_id) -> str:
    """A capability for this payment's pages (guests have no login; the wallet app has none)."""
    return signing.Signer(salt=_PAGE_SALT).signature(str(payment_id))


def page_token_valid(payment_id, token: str) -> bool:
    return bool(token) and constant_time_compare(token, page_token(payment_id))


def _page_url(name: str, payment: Payment) -> str:
    return f"{reverse(name, args=[payment.id])}?t={page_token(payment.id)}"


def three_ds_url(payment: Payment) -> str:
    return _page_url("pay:three_ds", payment)


def wallet_url(payment: Payment) -> str:
    return _page_url("pay:wallet", payment)


def wallet_approve_url(payment: Payment) -> str:
    return _page_url("pay:wallet_approve", payment)


def bank_url(payment: Payment) -> str:
    return _page_url("pay:bank", payment)


def bank_received_minor(payment: Payment) -> int:
    return sum(payment.bank_arrivals.values_list("amount_minor", flat=True))


def next_action_for(payment: Payment) -> dict | None:
    """What the buyer must do next, or None when the payment needs nothing from them."""
    if payment.status == S.REQUIRES_ACTION and payment.method == PaymentMethod.CARD:
        return {"type": "redirect", "url": three_ds_url(payment)}
    if payment.status == S.REQUIRES_ACTION and payment.method == PaymentMethod.WALLET:
        return {"type": "wallet", "url": wallet_url(payment), "wallet": payment.provider}
    if payment.status == S.AWAITING_TRANSFER:
        received = min(bank_received_minor(payment), payment.amount_minor)
        return {
            "type": "bank_transfer",
            "url": bank_url(payment),
            "reference": payment.bank_reference,
            **bank_provider_module.account_details(),
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "received_minor": received,
            "remaining_minor": payment.amount_minor - received,
            "expires_at": payment.expires_at.isoformat() if payment.expires_at else None,
        }
    return None


# --- start --------------------------------------------------------------------------------------
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


def _expiry_for(method: str):
    now = timezone.now()
    if method == PaymentMethod.BANK_TRANSFER:
        return now + timedelta(days=int(conf.get("BANK_TRANSFER_EXPIRY_DAYS")))
    if method == PaymentMethod.WALLET:
        return now + timedelta(seconds=int(conf.get("PAYMENTS_WALLET_TIMEOUT_S")))
    return now + timedelta(seconds=int(conf.get("PAYMENTS_3DS_TIMEOUT_S")))


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
    _check_capture_method(capture_method)
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
    )


def payment_start_card_for_buyer(
    *,
    order_id,
    buyer_id: int,
    actor: str,
    card: CardInput,
    return_url: str = "",
    capture_method: str = CAPTURE_MANUAL,
) -> PaymentStart:
    """The API's card payment: payment_start for the buyer's own order, the order lookup folded
    into the start statement (anyone else's order: NotFound, field "order"). The caller has
    checked the card and the return URL."""
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
    )


def _start(*, card: CardInput | None, actor: str, **start) -> PaymentStart:
    """Started in one statement (fast_authorize.start_payment); then, with no transaction and no
    lock held (the provider is on the far side of a network), authorised."""
    started = fast_authorize.start_payment(card=card, actor=actor, **start)
    payment = started.payment
    result = authorize_with_retries(
        payment_id=payment.id,
        request=_authorize_request(
            payment,
            cvc=card.cvc if card is not None else "",
            card=card_in_memory(card) if card is not None else None,
            capture=_sale_wanted(payment),
        ),
        provider_name=payment.provider,
        attempts_recorded=payment.provider_attempts,
    )
    payment = apply_authorize_result(
        payment_id=payment.id, result=result, actor=actor, started=started
    )
    payment = capture_if_automatic(payment, actor=actor, started=started)
    return PaymentStart(payment=payment, next_action=next_action_for(payment))


@sensitive_variables("cvc", "card")
def _authorize_request(
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
    return result


def _transition_once(*, payment_id, to_status: str, actor: str, **kwargs) -> Payment:
    """payment_transition, but a replay of a transition already made returns quietly.

    One transaction and one row lock (payment_transition's) in the usual case; only a refused
    move looks again whether the payment already is where it should be."""
    try:
        return payment_transition(payment_id=payment_id, to_status=to_status, actor=actor, **kwargs)
    except IllegalTransition:
        payment = Payment.objects.filter(pk=payment_id).first()
        if payment is not None and payment.status == to_status:
            return payment
        raise


def _payment_method(payment_id) -> str:
    return Payment.objects.values_list("method", flat=True).get(pk=payment_id)


def apply_authorize_result(
    *,
    payment_id,
    result: ProviderResult,
    actor: str,
    started: fast_authorize.Started | None = None,
) -> Payment:
    """Apply the provider's answer to the payment (`started`: the fast path's start, which saves
    reading the payment and its sub-orders again)."""
    data = {"provider_status": result.status, "failure_code": result.failure_code}
    if result.status == "captured":
        return _apply_sale(
            payment_id=payment_id, result=result, actor=actor, data=data, started=started
        )
    if result.status == "authorized":
        payment, _outcome = fast_authorize.apply_authorized(
            payment_id=payment_id,
            reference=result.reference,
            actor=actor,
            reason="authorised by the provider",
            data=data,
            started=started,
        )
        return payment
    if result.status == "requires_action":
        return _transition_once(
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
        return _transition_once(
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
    return _transition_once(
        payment_id=payment_id,
        to_status=S.FAILED,
        actor=actor,
        reason=f"declined: {code}",
        data=data,
        fields=fields,
    )


def _apply_sale(
    *,
    payment_id,
    result: ProviderResult,
    actor: str,
    data: dict,
    started: fast_authorize.Started | None = None,
) -> Payment:
    """The provider authorised and captured at once (a sale): authorized then captured in ONE
    statement (fast_authorize.apply_authorized with capture). A replay of a payment already
    captured returns it quietly; one authorised already (only the capture left) is captured."""
    payment, outcome = fast_authorize.apply_authorized(
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
        fast_capture.capture_payment(
            payment, actor=actor, data={"captured_minor": result.captured_minor}
        )
    return payment


# --- provider events (3-D Secure result, wallet notifications) ----------------------------------
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
                payment = payment_transition(
                    payment_id=payment.id,
                    to_status=S.AUTHORIZED,
                    actor=actor,
                    reason="authorised by the provider",
                    data=data,
                )
                if captures_automatically(payment):
                    _enqueue_automatic_capture(payment.id)
                return payment, "applied"
            if status in {S.AUTHORIZED, S.CAPTURED}:
                return payment, "duplicate"
            # Authorised at the provider after we gave up on it: release the money there.
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


# --- capture and void ---------------------------------------------------------------------------
def payment_capture(
    *,
    payment_id,
    actor: str,
    sub_order_amounts: dict[int, int] | None = None,
    loaded: fast_capture.CaptureTarget | None = None,
) -> Payment:
    """Take the authorised money: all of it (None), or {sub_order_id: amount_minor} per seller
    (a sub-order left out or given 0 is released). The provider takes the total; the rest is
    released there too. `loaded`: the payment as the caller already read it with
    fast_capture.load_for_capture. A replay of a capture already made returns quietly."""
    target = loaded or fast_capture.load_for_capture(payment_id)
    if target is None:
        raise NotFound("No such payment.", code="payment_not_found")
    payment = target.payment
    if payment.status != S.AUTHORIZED:
        raise IllegalTransition(f"A payment that is {payment.status} cannot be captured.")
    provider = get_provider(payment.provider)
    if provider.features.captures_on_authorize:
        raise Conflict("This payment was captured when the money arrived.", code="already_captured")
    if target.settled:
        raise _settled_per_sub_order()
    total = None
    if sub_order_amounts is not None:
        holds = dict(zip(target.sub_order_ids, target.sub_order_amounts, strict=True))
        for sub_order_id, amount in sub_order_amounts.items():
            if sub_order_id not in holds:
                raise ValidationError(
                    "No such sub-order on this payment.", field="sub_order_amounts"
                )
            if (
                isinstance(amount, bool)
                or not isinstance(amount, int)
                or not 0 <= amount <= holds[sub_order_id]
            ):
                raise ValidationError(
                    "Each amount must be between 0 and the sub-order's amount.",
                    field="sub_order_amounts",
                )
        total = sum(sub_order_amounts.values())
        if total <= 0:
            raise ValidationError(
                "Capture at least one minor unit; void instead.", field="sub_order_amounts"
            )
        if total == payment.amount_minor:
            total = None
        elif not provider.features.supports_partial_capture:
            raise ValidationError(
                "This provider cannot capture part of a payment.", field="sub_order_amounts"
            )
    result = provider.capture(
        reference=payment.provider_reference,
        amount_minor=total,
        idempotency_key=f"payment:{payment.id}:capture",
    )
    if result.status not in {"captured", "refunded"}:
        raise ProviderError(f"The provider did not capture ({result.status}).")
    fast_capture.capture_payment(
        payment,
        actor=actor,
        data={"captured_minor": result.captured_minor},
        amounts=sub_order_amounts,
        target=target,
    )
    return payment


def _settled_per_sub_order() -> Conflict:
    return Conflict(
        "Sellers are capturing or releasing this payment one sub-order at a time "
        "(acceptance); capture or release each sub-order instead.",
        code="settled_per_sub_order",
    )


def capture_if_automatic(
    payment: Payment, *, actor: str, started: fast_authorize.Started | None = None
) -> Payment:
    """Capture an automatic-capture payment that has just been authorised (a sale arrives here
    captured already: nothing to do). A provider that
    refuses or is down leaves it authorised: the payments.capture_automatic task retries (and the
    expiry sweeper re-drives), so the caller still gets an answer."""
    if payment.status != S.AUTHORIZED or not captures_automatically(payment):
        return payment
    if get_provider(payment.provider).features.captures_on_authorize:
        return payment
    loaded = None
    if started is not None:
        # Just authorised by this request: its sub-orders are the ones started, nothing settled.
        loaded = fast_capture.CaptureTarget(
            payment=payment,
            sub_order_ids=[sub[0] for sub in started.sub_orders],
            sub_order_amounts=[sub[2] for sub in started.sub_orders],
            settled=False,
        )
    try:
        return payment_capture(payment_id=payment.id, actor=actor, loaded=loaded)
    except (ProviderError, IllegalTransition, Conflict) as exc:
        logger.warning("payment %s: automatic capture deferred: %s", payment.id, exc)
        _enqueue_automatic_capture(payment.id)
        return Payment.objects.select_related("order").get(pk=payment.id)


def _enqueue_automatic_capture(payment_id) -> None:
    from payments.flows.tasks import payment_capture_automatic

    payment_id_text = str(payment_id)
    transaction.on_commit(lambda: payment_capture_automatic.delay(payment_id_text), robust=True)


def payment_capture_automatic(*, payment_id) -> bool:
    """The task's work: capture an authorised automatic-capture payment. True when captured now,
    False when there is nothing to do (not automatic, not authorised any more). Raises
    ProviderError for a retry."""
    payment = Payment.objects.select_related("order").filter(pk=payment_id).first()
    if (
        payment is None
        or payment.status != S.AUTHORIZED
        or not captures_automatically(payment)
        or get_provider(payment.provider).features.captures_on_authorize
    ):
        return False
    try:
        payment_capture(payment_id=payment.id, actor="system")
    except IllegalTransition:
        return False  # captured or ended meanwhile
    return True


def payments_capture_automatic_due(*, now=None, older_than_s: int = 60, limit: int = 100) -> int:
    """Sweeper: automatic-capture payments still authorised a while after authorisation (a lost
    task, a provider that was down). Returns how many were captured."""
    now = now or timezone.now()
    due = Payment.objects.filter(
        status=S.AUTHORIZED,
        details__capture_method=CAPTURE_AUTOMATIC,
        updated_at__lte=now - timedelta(seconds=older_than_s),
    ).order_by("updated_at")
    captured = 0
    for payment_id in due.values_list("id", flat=True)[:limit]:
        try:
            captured += payment_capture_automatic(payment_id=payment_id)
        except (ProviderError, Conflict) as exc:
            logger.warning("payment %s: automatic capture failed again: %s", payment_id, exc)
    return captured


def _refuse_if_settled_per_sub_order(payment: Payment) -> None:
    from payments.flows.ledger import any_hold_settled

    if any_hold_settled(payment):
        raise _settled_per_sub_order()


def payment_void(*, payment_id, actor: str, reason: str = "voided") -> Payment:
    """Release an authorised payment at the provider and in the ledger."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("No such payment.", code="payment_not_found")
    if payment.status != S.AUTHORIZED:
        raise IllegalTransition(f"A payment that is {payment.status} cannot be voided.")
    provider = get_provider(payment.provider)
    if provider.features.captures_on_authorize:
        raise Conflict(
            "This payment's money has arrived; refund it instead.", code="already_captured"
        )
    _refuse_if_settled_per_sub_order(payment)
    provider.void(
        reference=payment.provider_reference, idempotency_key=f"payment:{payment.id}:void"
    )
    return _transition_once(payment_id=payment.id, to_status=S.VOIDED, actor=actor, reason=reason)


def payment_release_late_authorization(*, payment_id) -> None:
    """A provider authorised a payment we had already failed or expired: release it there."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status not in {S.FAILED, S.EXPIRED, S.VOIDED}:
        return
    provider = get_provider(payment.provider)
    try:
        provider.void(
            reference=payment.provider_reference,
            idempotency_key=f"payment:{payment.id}:release-late",
        )
    except ProviderError as exc:
        logger.error("payment %s: could not release late authorisation: %s", payment.id, exc.code)
        raise


# --- expiry -------------------------------------------------------------------------------------
def payments_expire_due(*, now=None, limit: int | None = None) -> dict[str, int]:
    """Expire what has waited too long: bank transfers past their deadline, 3-D Secure challenges
    nobody answered (abandoned -> failed), wallet payments never approved (closed -> expired).
    Each payment in its own transaction; at most `limit` of each kind per run."""
    now = now or timezone.now()
    limit = limit or int(conf.get("PAYMENTS_BATCH_SIZE"))
    counts = {"bank_transfer": 0, "three_d_secure": 0, "wallet": 0, "recovered": 0, "skipped": 0}
    counts["recovered"] = payments_recover_stale(now=now, limit=limit)
    counts["captured"] = payments_capture_automatic_due(now=now, limit=limit)
    due = Payment.objects.filter(expires_at__lte=now).order_by("expires_at")

    for payment_id in due.filter(status=S.AWAITING_TRANSFER).values_list("id", flat=True)[:limit]:
        try:
            _expire(
                payment_id,
                reason="no bank transfer arrived in time",
                failure_code="bank_transfer_expired",
            )
            counts["bank_transfer"] += 1
        except IllegalTransition:
            counts["skipped"] += 1  # money arrived meanwhile

    card_due = due.filter(status=S.REQUIRES_ACTION, method=PaymentMethod.CARD)
    for payment_id in card_due.values_list("id", flat=True)[:limit]:
        try:
            payment_complete_challenge(payment_id=payment_id, outcome="abandon", actor="system")
            counts["three_d_secure"] += 1
        except (ProviderError, IllegalTransition) as exc:
            logger.warning("payment %s: challenge expiry failed: %s", payment_id, exc)
            counts["skipped"] += 1

    wallet_due = due.filter(status=S.REQUIRES_ACTION, method=PaymentMethod.WALLET)
    for payment in wallet_due.only("id", "provider", "provider_reference")[:limit]:
        payment_id = payment.id
        try:
            get_provider(payment.provider).void(
                reference=payment.provider_reference,
                idempotency_key=f"payment:{payment.id}:expire",
            )
            _expire(
                payment_id,
                reason="not approved in the wallet in time",
                failure_code="wallet_expired",
            )
            counts["wallet"] += 1
        except (ProviderError, IllegalTransition) as exc:
            logger.warning("payment %s: wallet expiry skipped: %s", payment_id, exc)
            counts["skipped"] += 1
    return counts


def payments_recover_stale(*, now=None, older_than_s: int = 600, limit: int | None = None) -> int:
    """Payments left in `created` by a process that died between calling the provider and
    applying its answer. The provider is asked what it did under the payment's idempotency key
    (a card processor is never sent the card again: the CVC is gone); wallets and bank transfers
    are simply asked again (idempotent, no secret needed). Returns how many were settled."""
    now = now or timezone.now()
    limit = limit or int(conf.get("PAYMENTS_BATCH_SIZE"))
    stale = Payment.objects.filter(
        status=S.CREATED, created_at__lte=now - timedelta(seconds=older_than_s)
    ).select_related("order", "vaulted_card")
    settled = 0
    for payment in stale.order_by("created_at")[:limit]:
        provider = get_provider(payment.provider)
        try:
            if payment.method == PaymentMethod.CARD:
                result = provider.lookup(idempotency_key=f"payment:{payment.id}:authorize")
                if result is None:  # the processor never saw it: nothing was charged
                    result = ProviderResult(
                        status="failed", reference="", failure_code="processing_error"
                    )
            else:
                result = authorize_with_retries(
                    payment_id=payment.id, request=_authorize_request(payment)
                )
            apply_authorize_result(payment_id=payment.id, result=result, actor="system")
            settled += 1
        except (ProviderError, IllegalTransition) as exc:
            logger.warning("payment %s: recovery skipped: %s", payment.id, exc)
    return settled


def parse_payment_id(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _expire(payment_id, *, reason: str, failure_code: str) -> None:
    """Expire a due payment as the system, with the buyer-readable message for its code."""
    payment_transition(
        payment_id=payment_id,
        to_status=S.EXPIRED,
        actor="system",
        reason=reason,
        fields={"failure_code": failure_code, "failure_message": buyer_message(failure_code)},
    )
