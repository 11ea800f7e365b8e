"""The payment state machine's table: which status may follow which, and the Payment's row lock.

    created            -> requires_action | awaiting_transfer | authorized | failed
    requires_action    -> authorized | failed | expired          (3-D Secure, wallet approval)
    awaiting_transfer  -> authorized | failed | expired          (bank transfer)
    authorized         -> captured | voided | failed
    captured, failed, voided, expired: final

payments.flows.state.payment_transition applies it.
"""

from __future__ import annotations

from core.errors import Conflict, NotFound
from payments.flows.models import Payment, PaymentStatus

S = PaymentStatus

TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.REQUIRES_ACTION, S.AWAITING_TRANSFER, S.AUTHORIZED, S.FAILED}),
    S.REQUIRES_ACTION: frozenset({S.AUTHORIZED, S.FAILED, S.EXPIRED}),
    S.AWAITING_TRANSFER: frozenset({S.AUTHORIZED, S.FAILED, S.EXPIRED}),
    S.AUTHORIZED: frozenset({S.CAPTURED, S.VOIDED, S.FAILED}),
    S.CAPTURED: frozenset(),
    S.FAILED: frozenset(),
    S.VOIDED: frozenset(),
    S.EXPIRED: frozenset(),
}

FINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)

# A payment in one of these holds the order: no second payment may start.
ACTIVE = frozenset({S.CREATED, S.REQUIRES_ACTION, S.AWAITING_TRANSFER, S.AUTHORIZED, S.CAPTURED})


class IllegalTransition(Conflict):
    """This payment cannot move to that state from the state it is in."""

    code = "illegal_transition"


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def lock_payment(payment_id) -> Payment:
    # The order comes along unlocked (FOR UPDATE OF the payment only): the transition's order
    # step and the API's answer read it, and the order step takes its own lock.
    payment = (
        Payment.objects.select_for_update(of=("self",))
        .select_related("order")
        .filter(pk=payment_id)
        .first()
    )
    if payment is None:
        raise NotFound("No such payment.", code="payment_not_found")
    return payment
