"""Capture and void: take the authorised money (all of it, or per sub-order), capture automatically
when the payment asked for it, release an authorisation.

Capture methods (as Stripe's): "manual" leaves the money authorised until it is captured (staff,
or each seller's acceptance, one sub-order at a time); "automatic" captures into escrow as soon as
the payment is authorised, in the same request when the provider answers at once (else by the
payments.capture_automatic task, re-driven by the expiry sweeper). Either way the money stays in
platform:escrow until the order's release; a seller's rejection then refunds it.

Every capture is one statement (payments.flows.capture_plpgsql.capture_payment).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationError
from core.integers import json_integer
from payments.flows import capture_plpgsql, start_plpgsql
from payments.flows.ledger import any_hold_settled
from payments.flows.models import Payment, PaymentEvent, PaymentStatus
from payments.flows.state import transition_once
from payments.flows.sub_order_money import RELEASED_STATES
from payments.flows.transitions import IllegalTransition
from payments.providers.base import ProviderError
from payments.providers.registry import get_provider

logger = logging.getLogger(__name__)
S = PaymentStatus


# Capture methods (as Stripe's): "manual" leaves the money authorised until it is captured (staff,
# or each seller's acceptance, one sub-order at a time); "automatic" captures into escrow as soon
# as the payment is authorised, in the same request when the provider answers at once (else by
# the payments.capture_automatic task, re-driven by the expiry sweeper). Either way the money
# stays in platform:escrow until the order's release; a seller's rejection then refunds it.
CAPTURE_MANUAL = "manual"

CAPTURE_AUTOMATIC = "automatic"

CAPTURE_METHODS = (CAPTURE_MANUAL, CAPTURE_AUTOMATIC)


def check_capture_method(capture_method: str) -> None:
    if capture_method not in CAPTURE_METHODS:
        raise ValidationError("Choose manual or automatic capture.", field="capture_method")


def captures_automatically(payment: Payment) -> bool:
    return (payment.details or {}).get("capture_method") == CAPTURE_AUTOMATIC


def sale_wanted(payment: Payment) -> bool:
    """An automatic-capture payment whose provider authorises and captures in one call (a
    "sale"): asked for with AuthorizeRequest(capture=True), answered "captured"."""
    return (
        captures_automatically(payment)
        and get_provider(payment.provider).features.captures_with_authorize
    )


def payment_capture(
    *,
    payment_id,
    actor: str,
    sub_order_amounts: dict[int, int] | None = None,
    loaded: capture_plpgsql.CaptureTarget | None = None,
    request_key: str = "",
) -> Payment:
    """Take the authorised money: all of it (None), or {sub_order_id: amount_minor} per seller
    (a sub-order left out or given 0 is released). The provider takes the total; the rest is
    released there too. `loaded`: the payment as the caller already read it with
    capture_plpgsql.load_for_capture. A replay of a capture already made returns quietly.
    `request_key`: the Idempotency-Key's scope, kept on the capture's event: a retry of a request
    that captured but died before answering gets the captured payment, not a refusal."""
    target = loaded or capture_plpgsql.load_for_capture(payment_id)
    if target is None:
        raise NotFound("No such payment.", code="payment_not_found")
    payment = target.payment
    if payment.status == S.CAPTURED and _captured_by(payment, request_key):
        return payment
    if payment.status != S.AUTHORIZED:
        raise IllegalTransition(f"A payment that is {payment.status} cannot be captured.")
    provider = get_provider(payment.provider)
    if provider.features.captures_on_authorize:
        raise Conflict("This payment was captured when the money arrived.", code="already_captured")
    if target.settled:
        raise _settled_per_sub_order()
    holds = dict(zip(target.sub_order_ids, target.sub_order_amounts, strict=True))
    declined = {
        sub_order_id
        for sub_order_id, status in zip(
            target.sub_order_ids, target.sub_order_statuses, strict=False
        )
        if status in RELEASED_STATES
    }
    if sub_order_amounts is None and declined:
        # A seller said no (or the window lapsed): that part is released, never taken, even when
        # its release at the provider has not happened yet (the capture releases it there too).
        sub_order_amounts = {
            sub_order_id: 0 if sub_order_id in declined else amount
            for sub_order_id, amount in holds.items()
        }
        if not any(sub_order_amounts.values()):
            raise Conflict(
                "Every seller declined this order: nothing is left to capture.",
                code="nothing_to_capture",
            )
    total = None
    if sub_order_amounts is not None:
        for sub_order_id, amount in sub_order_amounts.items():
            if sub_order_id not in holds:
                raise ValidationError(
                    "No such sub-order on this payment.", field="sub_order_amounts"
                )
            json_integer(
                amount,
                field="sub_order_amounts",
                minimum=0,
                maximum=holds[sub_order_id],
                message="Each amount must be between 0 and the sub-order's amount.",
                too_small="Each amount must be between 0 and the sub-order's amount.",
                too_large="Each amount must be between 0 and the sub-order's amount.",
            )
            if amount and sub_order_id in declined:
                raise ValidationError(
                    f"The seller of sub-order {sub_order_id} declined it: its part cannot be "
                    "captured.",
                    code="sub_order_declined",
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
    sub_order_amounts = _what_the_provider_took(
        payment, asked=sub_order_amounts, captured_minor=result.captured_minor
    )
    capture_plpgsql.capture_payment(
        payment,
        actor=actor,
        data={
            "captured_minor": result.captured_minor,
            **({"request_key": request_key} if request_key else {}),
        },
        amounts=sub_order_amounts,
        target=target,
    )
    return payment


def _captured_by(payment: Payment, request_key: str) -> bool:
    return (
        bool(request_key)
        and PaymentEvent.objects.filter(
            payment_id=payment.id, to_status=S.CAPTURED, data__request_key=request_key
        ).exists()
    )


def _what_the_provider_took(
    payment: Payment, *, asked: dict[int, int] | None, captured_minor: int
) -> dict[int, int] | None:
    """The amounts to record: what the provider actually took. The capture's idempotency key is
    the payment's, so a retry is answered with the first call's answer: a whole capture whose
    answer was lost, retried after a seller declined, comes back as the whole, and the ledger
    must say so (every hold posted in full: the declined part is then refunded by
    refunds.refund_declined_captured_due). Any other difference cannot be allocated to the
    sub-orders: refused, having recorded nothing (the provider's own records need staff)."""
    asked_minor = payment.amount_minor if asked is None else sum(asked.values())
    if captured_minor == asked_minor:
        return asked
    if captured_minor == payment.amount_minor:
        logger.warning(
            "payment %s: the provider captured all of it (%d) where %d was asked (an earlier "
            "capture under the same key); recording it all, declined parts to be refunded",
            payment.id,
            captured_minor,
            asked_minor,
        )
        return None
    logger.error(
        "payment %s: the provider captured %d where %d was asked; nothing recorded",
        payment.id,
        captured_minor,
        asked_minor,
    )
    raise Conflict(
        "The provider captured an amount other than the one asked for; staff must reconcile.",
        code="capture_amount_mismatch",
    )


def _settled_per_sub_order() -> Conflict:
    return Conflict(
        "Sellers are capturing or releasing this payment one sub-order at a time "
        "(acceptance); capture or release each sub-order instead.",
        code="settled_per_sub_order",
    )


def capture_if_automatic(
    payment: Payment, *, actor: str, started: start_plpgsql.Started | None = None
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
        loaded = capture_plpgsql.CaptureTarget(
            payment=payment,
            sub_order_ids=[sub[0] for sub in started.sub_orders],
            sub_order_amounts=[sub[2] for sub in started.sub_orders],
            settled=False,
        )
    try:
        return payment_capture(payment_id=payment.id, actor=actor, loaded=loaded)
    except (ProviderError, IllegalTransition, Conflict) as exc:
        logger.warning("payment %s: automatic capture deferred: %s", payment.id, exc)
        enqueue_automatic_capture(payment.id)
        return Payment.objects.select_related("order").get(pk=payment.id)


def enqueue_automatic_capture(payment_id) -> None:
    # tasks.py imports this module: the task is looked up when it is enqueued.
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
        except Exception:  # one bad row must not stop the sweep
            logger.exception("payment %s: automatic capture failed", payment_id)
    return captured


def _refuse_if_settled_per_sub_order(payment: Payment) -> None:

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
    return transition_once(payment_id=payment.id, to_status=S.VOIDED, actor=actor, reason=reason)


def payment_release_late_authorization(*, payment_id, captured: bool = False) -> None:
    """A provider authorised a payment we had already failed or expired: release it there
    (`captured`: it took the money in the same call, a sale: refund it)."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status not in {S.FAILED, S.EXPIRED, S.VOIDED}:
        return
    provider = get_provider(payment.provider)
    try:
        if captured:
            provider.refund(
                reference=payment.provider_reference,
                amount_minor=payment.amount_minor,
                idempotency_key=f"payment:{payment.id}:refund-late",
            )
            return
        provider.void(
            reference=payment.provider_reference,
            idempotency_key=f"payment:{payment.id}:release-late",
        )
    except ProviderError as exc:
        logger.error("payment %s: could not release late authorisation: %s", payment.id, exc.code)
        raise
