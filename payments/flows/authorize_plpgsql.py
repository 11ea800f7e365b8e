"""A payment's authorisation on PostgreSQL: one statement, payments_authorize()
(payments/flows/payments_authorize_v2.sql): authorized (any method), with its holds, the
PaymentEvent, payment.authorized and the order paid (payments_order_mark_paid); with capture=True
a sale, captured too.

apply_authorized is the only place a payment becomes authorised: payment_transition(to
authorized) comes here too. Python reads the payment and its sub-orders, builds the ledger
requests and turns the function's refusals into the errors the rules raise. The provider is
called before, with no transaction or lock held. (The start: payments/flows/start_plpgsql.py.)
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from core.errors import Conflict, NotFound
from ledger.errors import BatchFailed, LedgerError
from ledger.posting import REFUSAL_SQLSTATE as LEDGER_REFUSAL_SQLSTATE
from ledger.requests import validate_request
from payments import conf
from payments.flows.capture_plpgsql import capture_requests, ledger_refusal
from payments.flows.ledger import _escrow, _hold_source, hold_request, hold_transfer_id
from payments.flows.models import Payment, PaymentStatus
from payments.flows.plpgsql import call
from payments.flows.start_plpgsql import Started
from payments.flows.transitions import IllegalTransition
from payments.orders.events import dispatch_after_commit
from payments.orders.models import OrderStatus, SubOrder
from payments.orders.refusals import REFUSAL_SQLSTATE, refusal_error

logger = logging.getLogger(__name__)
_AUTHORIZE_SQL = (
    "SELECT * FROM payments_authorize(%s::uuid, %s::text, %s::text, %s::bigint, %s::text, "
    "%s::text, %s::text, %s::jsonb, %s::text, %s::jsonb, %s::jsonb, %s::uuid, %s::timestamptz, "
    "%s::timestamptz, %s::text, %s::boolean, %s::jsonb)"
)
STALE_READS = 3  # the payment and its sub-orders read again when they changed meanwhile


def _load(payment_id: Any) -> Started | None:
    """The context of a payment started elsewhere (recovery, a replayed answer)."""
    payment = Payment.objects.select_related("order").filter(pk=payment_id).first()
    if payment is None:
        return None
    sub_orders = SubOrder.objects.filter(order_id=payment.order_id).order_by("id")
    return Started(
        payment=payment,
        sub_orders=tuple(sub_orders.values_list("id", "seller_id", "amount_minor", "currency")),
    )


def _hold_requests(payment: Payment, sub_orders) -> list[dict]:
    """The holds' ledger requests (flows.ledger.hold_request: one pending transfer per
    sub-order from the method's source account into escrow), checked as
    ledger.services.create_transfers checks them (raises its BatchFailed)."""
    accounts = (_hold_source(payment), _escrow(payment))
    requests = []
    for index, (sub_id, seller, amount, _currency) in enumerate(sub_orders):
        try:
            request = hold_request(payment, sub_id, seller, amount, accounts=accounts)
            requests.append(validate_request(request).as_json())
        except LedgerError as error:
            raise BatchFailed(index, error) from None
    return requests


class _Stale(Exception):
    """payments_authorize found the payment or its sub-orders other than they were read."""


def _refusal(exc: DatabaseError, payment: Payment) -> Exception | None:
    """The error a refusal of payments_authorize (PM001) or of the ledger (LG001) stands for;
    None for any other database error."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate not in {REFUSAL_SQLSTATE, LEDGER_REFUSAL_SQLSTATE}:
        return None
    if sqlstate == LEDGER_REFUSAL_SQLSTATE:
        return ledger_refusal(cause)
    code, detail = cause.diag.message_primary, json.loads(cause.diag.message_detail or "{}")
    if code == "stale":
        return _Stale()
    return refusal_error(code, detail, payment_amount=payment.amount_minor)


def apply_authorized(
    *,
    payment_id: Any,
    actor: str,
    reason: str,
    data: dict,
    reference: str | None = None,
    started: Started | None = None,
    capture: bool = False,
    captured_minor: int = 0,
) -> tuple[Payment, str]:
    """The provider authorised the payment (`capture`: and captured it, a sale; `captured_minor`
    its answer, for the capture's PaymentEvent): payments_authorize, the one implementation.
    `reference`: the provider's reference (None keeps the payment's). `started`: the payment and
    its sub-orders as this request started them (else read here).

    Returns (payment, outcome): "ok"; "already" (authorized already, or with `capture` captured
    already: a replay); "authorized" (with `capture`: authorised already, only the capture is
    left). Raises NotFound, IllegalTransition, OrderNotPayable, OutOfStock, UnknownProduct,
    IntegrityViolation, BatchFailed, having written nothing."""
    context = started
    for _read in range(STALE_READS):
        if context is None:
            context = _load(payment_id)
            if context is None:
                raise NotFound("No such payment.", code="payment_not_found")
        try:
            return _authorize_once(
                context,
                actor=actor,
                reason=reason,
                data=data,
                reference=reference,
                capture=capture,
                captured_minor=captured_minor,
            )
        except _Stale:
            logger.info("payment %s: changed since read; reading it again", payment_id)
            context = None
    raise Conflict("The payment keeps changing; try again.", code="busy")


def _authorize_once(
    context: Started,
    *,
    actor: str,
    reason: str,
    data: dict,
    reference: str | None,
    capture: bool,
    captured_minor: int,
) -> tuple[Payment, str]:
    payment = context.payment
    transfers = _hold_requests(payment, context.sub_orders)
    if capture:
        transfers += capture_requests(payment, [(sub[0], sub[2]) for sub in context.sub_orders])
    now = timezone.now()
    accept_by = now + conf.acceptance_window()
    sub_orders = [
        [sub_id, seller, amount, str(hold_transfer_id(payment.id, sub_id))]
        for sub_id, seller, amount, _currency in context.sub_orders
    ]
    try:
        rows = call(
            _AUTHORIZE_SQL,
            [
                payment.id,
                payment.method,
                payment.provider,
                payment.amount_minor,
                payment.currency,
                actor,
                reason,
                json.dumps(data),
                reference,
                json.dumps(sub_orders),
                json.dumps(transfers, separators=(",", ":")),
                uuid.uuid4() if len(transfers) > 1 else None,  # as create_transfers
                now,
                accept_by,
                accept_by.isoformat(),
                capture,
                json.dumps({"captured_minor": captured_minor}),
            ],
        )
    except DatabaseError as exc:
        error = _refusal(exc, payment)
        if error is None:
            raise
        raise error from None
    outcome, detail, total, updated_at, event_ids = rows[0]
    if outcome == "payment_not_found":
        raise NotFound("No such payment.", code="payment_not_found")
    if outcome == "illegal":
        raise IllegalTransition(
            f"A payment that is {detail} cannot become {PaymentStatus.AUTHORIZED}.",
            extra={"from": detail, "to": PaymentStatus.AUTHORIZED},
        )
    if outcome != "ok":  # "already", "authorized": as it is now
        fresh = Payment.objects.select_related("order").get(pk=payment.id)
        return fresh, outcome
    dispatch_after_commit(list(event_ids))
    if reference is not None:
        payment.provider_reference = reference
    payment.status = PaymentStatus.CAPTURED if capture else PaymentStatus.AUTHORIZED
    payment.captured_minor = total
    payment.updated_at = updated_at
    order = payment.order
    if order.status != OrderStatus.PAID:
        order.status = OrderStatus.PAID
        order.payment_failure_reason = ""
        order.updated_at = now
    return payment, outcome
