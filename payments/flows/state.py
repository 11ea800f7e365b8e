"""The payment state machine: the one function that applies the table of allowed transitions
(payments.flows.transitions).

`payment_transition` locks the Payment row (select_for_update), checks the table, applies the
ledger effects of the move in the same transaction, writes a PaymentEvent (actor, from, to, why)
and tells the order side. Effects by target:

    authorized  payments_authorize (authorize_plpgsql.apply_authorized): the holds, the order paid
    captured    payments_capture (capture_plpgsql.capture_payment): the holds posted, its events
    voided      void the holds (when there were any)
    failed      void the holds if authorised; order_mark_payment_failed
    expired     order_mark_payment_failed

Provider calls never happen in here: callers talk to the provider first (no lock held), then
transition. Lock order: Payment -> Order -> SubOrders -> ledger accounts (docs/architecture.md).
"""

from __future__ import annotations

from django.db import transaction

from core.errors import NotFound
from payments.flows.authorize_plpgsql import apply_authorized
from payments.flows.capture_plpgsql import capture_payment
from payments.flows.ledger import ledger_void_holds
from payments.flows.models import Payment, PaymentEvent
from payments.flows.transitions import (
    TRANSITIONS,
    IllegalTransition,
    S,
    can_transition,
    lock_payment,
)
from payments.orders import events as order_events
from payments.orders import payment_outcomes
from payments.orders.models import SubOrder
from payments.orders.services import lock_order

# Fields a transition may set together with the status (in the same locked update).
_SETTABLE = frozenset(
    {"provider_reference", "failure_code", "failure_message", "expires_at", "details"}
)
# Moves whose effects lock the order's rows (holds voided, the order failed and its stock back).
_ORDER_EFFECTS = frozenset({S.VOIDED, S.FAILED, S.EXPIRED})
# The order timeline (and webhooks/emails) hears of these payment moves; expiry is a failure there.
_ORDER_EVENT_KINDS = {
    S.FAILED: order_events.PAYMENT_FAILED,
    S.EXPIRED: order_events.PAYMENT_FAILED,
}


def _record_payment_order_event(payment: Payment, actor: str) -> None:
    """payment.failed on the order, in the transition's transaction (the authorisation and
    capture functions write payment.authorized and payment.captured).

    Public data only (no card details): the sub-order shares let a seller see just its part."""
    kind = _ORDER_EVENT_KINDS.get(payment.status)
    if kind is None:
        return
    data = {
        "payment_id": str(payment.id),
        "order_id": str(payment.order_id),
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "method": payment.method,
        "status": payment.status,
        "sub_orders": [
            {"id": sub_id, "seller_id": seller_id, "amount_minor": amount}
            for sub_id, seller_id, amount in SubOrder.objects.filter(order_id=payment.order_id)
            .order_by("id")
            .values_list("id", "seller_id", "amount_minor")
        ],
    }
    if kind == order_events.PAYMENT_FAILED:
        data["failure_code"] = payment.failure_code or payment.status
    order_events.record_order_event(order=payment.order, kind=kind, actor=actor, data=data)


def payment_transition(
    *,
    payment_id,
    to_status: str,
    actor: str,
    reason: str = "",
    data: dict | None = None,
    fields: dict | None = None,
    holds_settled: bool = False,
) -> Payment:
    """Move a payment to `to_status` or raise IllegalTransition having written nothing.

    `fields` are set on the Payment in the same update (provider reference, failure details).
    `holds_settled`: every sub-order's hold was already captured or voided on its own (per-seller
    acceptance, multicapture), so captured/voided only records the end state: no ledger postings.
    To authorized and to captured (whole): the one implementation of each, in SQL
    (authorize_plpgsql.apply_authorized, capture_plpgsql.capture_payment)."""
    if to_status not in TRANSITIONS:
        raise IllegalTransition(f"Unknown payment status {to_status!r}.")
    unknown = set(fields or {}) - _SETTABLE
    assert not unknown, f"not settable in a transition: {unknown}"
    if to_status == S.CAPTURED:
        return _capture(payment_id, actor=actor, reason=reason, data=data, settled=holds_settled)
    if to_status == S.AUTHORIZED:
        return _authorize(payment_id, actor=actor, reason=reason, data=data, fields=fields)
    with transaction.atomic():
        payment = lock_payment(payment_id)
        if to_status in _ORDER_EFFECTS:
            # The order before its sub-orders' holds and its stock (the one lock order).
            lock_order(payment.order_id)
        from_status = payment.status
        if not can_transition(from_status, to_status):
            raise IllegalTransition(
                f"A payment that is {from_status} cannot become {to_status}.",
                extra={"from": from_status, "to": to_status},
            )
        for name, value in (fields or {}).items():
            setattr(payment, name, value)
        payment.status = to_status
        update_fields = ["status", "updated_at", *(fields or {})]

        if holds_settled:
            assert to_status == S.VOIDED, "holds_settled ends an authorisation"
            payment.captured_minor = sum(
                payment.order.sub_orders.values_list("captured_minor", flat=True)
            )
            update_fields.append("captured_minor")
        elif from_status == S.AUTHORIZED and to_status in {S.VOIDED, S.FAILED}:
            ledger_void_holds(payment)

        payment.save(update_fields=update_fields)
        PaymentEvent.objects.create(
            payment=payment,
            from_status=from_status,
            to_status=to_status,
            actor=actor[:64],
            reason=reason[:255],
            data=data or {},
        )
        _record_payment_order_event(payment, actor)
        if to_status in {S.FAILED, S.EXPIRED}:
            payment_outcomes.order_mark_payment_failed(
                order=payment.order, reason=payment.failure_code or reason or to_status
            )
    return payment


def _capture(payment_id, *, actor: str, reason: str, data: dict | None, settled: bool) -> Payment:
    """payment_transition(to captured): the capture function, a replay refused as any other
    move that is not allowed."""
    payment = Payment.objects.select_related("order").filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("No such payment.", code="payment_not_found")
    if not capture_payment(payment, actor=actor, reason=reason, data=data, settled=settled):
        raise IllegalTransition(
            f"A payment that is {S.CAPTURED} cannot become {S.CAPTURED}.",
            extra={"from": S.CAPTURED, "to": S.CAPTURED},
        )
    return payment


def _authorize(payment_id, *, actor: str, reason: str, data: dict | None, fields) -> Payment:
    """payment_transition(to authorized): the authorisation function, a replay refused as any
    other move that is not allowed. Of `fields`, only the provider reference applies."""
    payment, outcome = apply_authorized(
        payment_id=payment_id,
        actor=actor,
        reason=reason,
        data=data or {},
        reference=(fields or {}).get("provider_reference"),
    )
    if outcome != "ok":
        raise IllegalTransition(
            f"A payment that is {payment.status} cannot become {S.AUTHORIZED}.",
            extra={"from": payment.status, "to": S.AUTHORIZED},
        )
    return payment


def transition_once(*, payment_id, to_status: str, actor: str, **kwargs) -> Payment:
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
