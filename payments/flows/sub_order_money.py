"""Each seller's money, one sub-order at a time (Stripe-style multicapture).

A card or wallet payment is only authorised at checkout: one ledger hold per sub-order. When a
seller accepts, that sub-order's part is captured at the provider (`capture_part`) and its hold
posted; when a seller rejects (or the window lapses) its part is released there (`release_part`)
and its hold voided. The Payment stays `authorized`, `captured_minor` accumulating, until every
hold is closed; then it becomes `captured` (something was taken) or `voided` (nothing was).

The decision (accepted / rejected) is committed first under the row locks; the provider call is
made after, with no lock held, under an idempotency key per sub-order and step; the ledger posting
follows in its own short transaction (Payment -> Order -> SubOrder -> ledger accounts). A crash
between the two leaves a decided sub-order with an open hold: `sub_order_holds_settle` (beat)
finds it and does the rest, the provider answering the repeated key with its first answer.

Bank transfers are captured when the money arrives (captures_on_authorize): nothing to capture;
a rejection refunds instead (payments.fulfilment.refunds, from `release`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from payments.flows.ledger import (
    any_hold_pending,
    ledger_capture_sub_order_hold,
    ledger_void_sub_order_hold,
    sub_order_hold_state,
)
from payments.flows.models import Payment, PaymentStatus
from payments.flows.state import payment_transition
from payments.orders.models import Order, SubOrder, SubOrderStatus
from payments.providers.base import ProviderError
from payments.providers.registry import get_provider

logger = logging.getLogger(__name__)
S = PaymentStatus

# Statuses of a sub-order whose seller said yes (its hold must end up captured) or no (released).
ACCEPTED_STATES = frozenset(
    {
        SubOrderStatus.ACCEPTED,
        SubOrderStatus.SHIPPED,
        SubOrderStatus.CONFIRMED,
        SubOrderStatus.DISPUTED,
    }
)
# A dispute resolved for the buyer before the seller's part was captured is released too.
RELEASED_STATES = frozenset(
    {SubOrderStatus.REJECTED, SubOrderStatus.CANCELLED, SubOrderStatus.REFUNDED}
)


def paid_payment_of(order_id: Any, *, lock: bool = False) -> Payment | None:
    """The order's payment that went through (authorised or captured), if any."""
    payments = Payment.objects.filter(
        order_id=order_id, status__in=[S.AUTHORIZED, S.CAPTURED]
    ).order_by("-created_at")
    if lock:
        payments = payments.select_for_update()
    return payments.first()


def _idempotency_key(payment: Payment, sub_order: SubOrder, step: str) -> str:
    return f"payment:{payment.id}:sub_order:{sub_order.id}:{step}"


def _needs_provider(payment: Payment | None, sub_order: SubOrder) -> bool:
    return (
        payment is not None
        and payment.status == S.AUTHORIZED
        and not get_provider(payment.provider).features.captures_on_authorize
        and sub_order_hold_state(payment, sub_order) == "pending"
    )


def sub_order_capture(*, sub_order_id: Any, actor: str) -> bool:
    """Capture an accepted sub-order's part. Idempotent; True if this call posted the hold.
    Raises ProviderError when the provider refuses or is down (the sweeper retries)."""
    sub_order = SubOrder.objects.get(pk=sub_order_id)
    payment = paid_payment_of(sub_order.order_id)
    if sub_order.status not in ACCEPTED_STATES or not _needs_provider(payment, sub_order):
        return False
    # No transaction, no lock: the provider is on the far side of a network.
    result = get_provider(payment.provider).capture_part(
        reference=payment.provider_reference,
        amount_minor=sub_order.amount_minor,
        idempotency_key=_idempotency_key(payment, sub_order, "capture"),
    )
    if result.status not in {"authorized", "captured", "refunded"}:
        raise ProviderError(f"The provider did not capture ({result.status}).")
    return _apply(payment.id, sub_order.id, capture=True, actor=actor)


def sub_order_release(*, sub_order_id: Any, actor: str) -> bool:
    """Release a rejected sub-order's still-authorised part. Idempotent; True if this call voided
    the hold. Raises ProviderError when the provider refuses or is down (the sweeper retries)."""
    sub_order = SubOrder.objects.get(pk=sub_order_id)
    payment = paid_payment_of(sub_order.order_id)
    if sub_order.status not in RELEASED_STATES or not _needs_provider(payment, sub_order):
        return False
    result = get_provider(payment.provider).release_part(
        reference=payment.provider_reference,
        amount_minor=sub_order.amount_minor,
        idempotency_key=_idempotency_key(payment, sub_order, "release"),
    )
    if result.status not in {"authorized", "captured", "voided", "refunded"}:
        raise ProviderError(f"The provider did not release ({result.status}).")
    return _apply(payment.id, sub_order.id, capture=False, actor=actor)


def _apply(payment_id: Any, sub_order_id: Any, *, capture: bool, actor: str) -> bool:
    """The provider did it: post or void the hold, then end the payment if every hold is closed."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        Order.objects.select_for_update().filter(pk=payment.order_id).first()
        sub_order = SubOrder.objects.select_for_update().get(pk=sub_order_id)
        if payment.status != S.AUTHORIZED or sub_order_hold_state(payment, sub_order) != "pending":
            return False  # done meanwhile by a concurrent call
        if capture:
            if sub_order.status in RELEASED_STATES:
                # Declined while the capture was in flight: the provider took it, so the ledger
                # says so too; the refund follows (fulfilment's refund_declined_captured_due).
                logger.warning("sub-order %s: captured after it was declined", sub_order.pk)
            ledger_capture_sub_order_hold(payment, sub_order, sub_order.amount_minor)
            sub_order.captured_minor = sub_order.amount_minor
            sub_order.save(update_fields=["captured_minor", "updated_at"])
            payment.captured_minor += sub_order.amount_minor
            payment.save(update_fields=["captured_minor", "updated_at"])
        else:
            ledger_void_sub_order_hold(payment, sub_order)
        _end_payment_if_settled(payment, actor=actor)
    return True


def _end_payment_if_settled(payment: Payment, *, actor: str) -> None:
    if any_hold_pending(payment):
        return
    captured = sum(
        SubOrder.objects.filter(order_id=payment.order_id).values_list("captured_minor", flat=True)
    )
    payment_transition(
        payment_id=payment.id,
        to_status=S.CAPTURED if captured else S.VOIDED,
        actor=actor,
        reason="every seller decided" if captured else "every seller declined",
        data={"captured_minor": captured},
        holds_settled=True,
    )


def sub_order_holds_settle(*, limit: int = 200) -> dict[str, int]:
    """Sweeper (beat): finish captures and releases whose provider call was lost or failed."""
    counts = {"captured": 0, "released": 0, "failed": 0}
    open_payment = SubOrder.objects.filter(
        order__payments__status=S.AUTHORIZED, captured_minor=0
    ).distinct()
    work = [
        *(
            (sub_id, True)
            for sub_id in open_payment.filter(status__in=ACCEPTED_STATES).values_list(
                "id", flat=True
            )[:limit]
        ),
        *(
            (sub_id, False)
            for sub_id in open_payment.filter(status__in=RELEASED_STATES).values_list(
                "id", flat=True
            )[:limit]
        ),
    ]
    for sub_order_id, capture in work:
        try:
            if capture and sub_order_capture(sub_order_id=sub_order_id, actor="system"):
                counts["captured"] += 1
            elif not capture and sub_order_release(sub_order_id=sub_order_id, actor="system"):
                counts["released"] += 1
        except ProviderError as exc:
            counts["failed"] += 1
            logger.warning("sub-order %s: hold not settled: %s", sub_order_id, exc.code)
        except Exception:  # one bad row must not stop the sweep
            counts["failed"] += 1
            logger.exception("sub-order %s: hold not settled", sub_order_id)
    return counts
