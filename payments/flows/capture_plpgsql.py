"""A payment's capture, in one statement on PostgreSQL (payments/flows/payments_capture_v2.sql).

    load_for_capture   the payment, its order's number and buyer, its sub-orders and whether any
                       hold was already settled on its own: one SELECT (the view's lookup,
                       payment_capture's checks and ledger.any_hold_settled)
    capture_payment    payments_capture: authorized -> captured, the holds posted (whole or per
                       sub-order; a sub-order given 0 has its hold voided), the sub-orders'
                       captured_minor, the PaymentEvent and payment.captured

capture_payment is the only place a payment becomes captured (staff and automatic captures via
capture.payment_capture, a sale's second half, a bank transfer's capture on arrival, and
the end of a payment its sellers settled one by one): its checks, state change, ledger postings
and events are the function's; Python reads, calls the provider and builds the ledger requests.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from core.errors import Conflict, IntegrityViolation, NotFound
from core.fast_sql import fetch_all as fast_call
from ledger.errors import BatchFailed, LedgerBusy, LedgerError, ledger_error_from_code
from ledger.posting import REFUSAL_SQLSTATE
from ledger.requests import validate_request
from payments.flows.ledger import _close_hold, _escrow, _hold_source, hold_transfer_id
from payments.flows.models import Payment
from payments.flows.transitions import IllegalTransition
from payments.orders import events as order_events
from payments.orders.models import Order, SubOrder

logger = logging.getLogger(__name__)

_PAYMENT_FIELDS = [field.attname for field in Payment._meta.concrete_fields]
# Fields that need converting from what the database driver gives (JSON arrives as text).
_PAYMENT_CONVERTERS = [
    getattr(field, "from_db_value", None) for field in Payment._meta.concrete_fields
]
_ORDER_FIELDS = ["id", "number", "buyer_id"]

# The closes of this payment's holds: the holds are the pending transfers that reference the
# payment (ledger.hold_request); the caller keeps those whose pending_id is one of the hold ids,
# which is exactly ledger.any_hold_settled.
_LOAD_SQL = (  # the column names are the model's own, not input
    "SELECT "  # noqa: S608
    + ", ".join(f'p."{Payment._meta.get_field(name).column}"' for name in _PAYMENT_FIELDS)
    + """, o.number, o.buyer_id,
       ARRAY(SELECT s.id FROM payments_suborder s WHERE s.order_id = p.order_id ORDER BY s.id),
       ARRAY(SELECT s.amount_minor FROM payments_suborder s
              WHERE s.order_id = p.order_id ORDER BY s.id),
       ARRAY(SELECT s.status FROM payments_suborder s
              WHERE s.order_id = p.order_id ORDER BY s.id),
       ARRAY(SELECT c.pending_id
               FROM ledger_transfer h
               JOIN ledger_transfer c ON c.pending_id = h.id AND c.pending_id IS NOT NULL
              WHERE h.reference = 'payment:' || p.id::text AND h.kind = 'pending')
  FROM payments_payment p
  JOIN payments_order o ON o.id = p.order_id
 WHERE p.id = %s"""
)
_CAPTURE_SQL = (
    "SELECT * FROM payments_capture(%s::uuid, %s::text, %s::text, %s::jsonb, %s::bigint[], "
    "%s::bigint[], %s::bigint[], %s::jsonb, %s::uuid, %s::boolean)"
)
# Deadlock, serialization failure, lock not available, a concurrent twin's insert: try again
# (the call wrote nothing), as ledger.services._post does.
_RETRY_SQLSTATES = {"40P01", "40001", "55P03", "23505"}
MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 0.004
STALE_READS = 3  # sub-orders read again when they changed between the read and the call


@dataclass
class CaptureTarget:
    """What payment_capture needs of a payment, read in one statement."""

    payment: Payment  # with .order (id, number, buyer_id loaded)
    sub_order_ids: list[int]  # ascending
    sub_order_amounts: list[int]
    settled: bool  # some sub-order's hold was already captured or released on its own
    sub_order_statuses: list[str] = field(default_factory=list)  # as read (no lock)


def _payment_uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def load_for_capture(payment_id) -> CaptureTarget | None:
    """The payment to capture (raises NotFound payment_not_found), or None when the id is not a
    UUID."""
    pk = _payment_uuid(payment_id)
    if pk is None:
        return None
    rows = fast_call(_LOAD_SQL, [pk])
    if not rows:
        raise NotFound("No such payment.", code="payment_not_found")
    row = rows[0]
    n = len(_PAYMENT_FIELDS)
    conn = connections[DEFAULT_DB_ALIAS]
    values = [
        value if convert is None or value is None else convert(value, None, conn)
        for value, convert in zip(row[:n], _PAYMENT_CONVERTERS, strict=True)
    ]
    payment = Payment.from_db(DEFAULT_DB_ALIAS, _PAYMENT_FIELDS, values)
    number, buyer_id, sub_ids, sub_amounts, sub_statuses, closed = row[n:]
    payment.order = Order.from_db(
        DEFAULT_DB_ALIAS, _ORDER_FIELDS, [payment.order_id, number, buyer_id]
    )
    hold_ids = {hold_transfer_id(payment.id, sub_id) for sub_id in sub_ids}
    return CaptureTarget(
        payment=payment,
        sub_order_ids=list(sub_ids),
        sub_order_amounts=list(sub_amounts),
        settled=any(pending_id in hold_ids for pending_id in closed),
        sub_order_statuses=list(sub_statuses),
    )


def _sub_orders(order_id) -> tuple[list[int], list[int]]:
    rows = (
        SubOrder.objects.filter(order_id=order_id).order_by("id").values_list("id", "amount_minor")
    )
    return [row[0] for row in rows], [row[1] for row in rows]


def capture_requests(payment: Payment, sub_orders, captures: list[int] | None = None) -> list[dict]:
    """The ledger requests of a capture of `sub_orders` ((id, amount_minor) pairs): each hold
    posted for captures[i] (all of it when None), or voided when that is 0. Checked as
    ledger.services.create_transfers checks them (raises its BatchFailed)."""
    accounts = (_hold_source(payment), _escrow(payment))
    requests = []
    for index, (sub_id, amount) in enumerate(sub_orders):
        request = _close_hold(
            payment,
            SubOrder(id=sub_id, amount_minor=amount),
            capture_minor=amount if captures is None else captures[index],
            void_reason="payment_capture_released",
            accounts=accounts,
        )
        try:
            requests.append(validate_request(request).as_json())
        except LedgerError as error:
            raise BatchFailed(index, error) from None
    return requests


def capture_payment(
    payment: Payment,
    *,
    actor: str,
    reason: str = "captured",
    data: dict | None = None,
    amounts: dict[int, int] | None = None,
    target: CaptureTarget | None = None,
    settled: bool = False,
) -> bool:
    """authorized -> captured (payments_capture): every hold posted for amounts[sub_order_id]
    (all of it when amounts is None; a sub-order left out or given 0 has its hold voided), or,
    with `settled`, every hold already closed on its own. `target`: the payment's sub-orders as
    the caller read them. Brings `payment` up to date (status, captured_minor, updated_at) and
    dispatches its order event after commit. Returns False for a replay (it was captured
    already); raises NotFound, IllegalTransition, IntegrityViolation, BatchFailed, LedgerBusy,
    having written nothing."""
    ids, holds = (target.sub_order_ids, target.sub_order_amounts) if target else ([], [])
    for _read in range(STALE_READS):
        if not settled and (target is None or _read):
            ids, holds = _sub_orders(payment.order_id)
        captures = holds if amounts is None else [amounts.get(sub_id, 0) for sub_id in ids]
        requests = (
            [] if settled else capture_requests(payment, zip(ids, holds, strict=True), captures)
        )
        row = _call(
            [
                payment.id,
                actor[:64],
                reason,
                json.dumps(data or {}),
                ids,
                holds,
                captures,
                json.dumps(requests, separators=(",", ":")),
                uuid.uuid4() if len(requests) > 1 else None,  # as create_transfers
                settled,
            ]
        )
        outcome, detail, total, updated_at, event_id = row
        if outcome != "stale":
            break
        logger.info("payment %s: sub-orders changed since read; reading them again", payment.id)
    else:
        raise Conflict("The payment's sub-orders keep changing; try again.", code="busy")
    if outcome == "payment_not_found":
        raise NotFound("No such payment.", code="payment_not_found")
    if outcome == "illegal":
        raise IllegalTransition(
            f"A payment that is {detail} cannot become captured.",
            extra={"from": detail, "to": "captured"},
        )
    if outcome == "sub_orders_do_not_match_payment":
        raise IntegrityViolation(
            f"Sub-orders sum to {detail}, the payment is {payment.amount_minor}.",
            code="sub_orders_do_not_match_payment",
        )
    if outcome == "currency":
        raise IntegrityViolation("Sub-order currency differs from the payment's.", code="currency")
    # "captured", or "already" (a replay: captured by a concurrent call).
    payment.status, payment.captured_minor, payment.updated_at = "captured", total, updated_at
    if event_id is not None:
        order_events.dispatch_after_commit([event_id])
    return outcome == "captured"


def ledger_refusal(cause) -> BatchFailed:
    """A ledger refusal (SQLSTATE LG001, raised by ledger_create_transfers inside one of the
    payment functions) as ledger.services.create_transfers raises it."""
    detail = json.loads(cause.diag.message_detail)
    index = detail.pop("index")
    return BatchFailed(index, ledger_error_from_code(cause.diag.message_primary, detail))


def _call(params: list) -> tuple:
    """One call: its own transaction in autocommit, a savepoint inside the caller's (a failure
    must not break it). Contention is retried; a ledger refusal raises what create_transfers
    raises."""
    conn = connections[DEFAULT_DB_ALIAS]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            if conn.in_atomic_block:
                with transaction.atomic():
                    return fast_call(_CAPTURE_SQL, params)[0]
            return fast_call(_CAPTURE_SQL, params)[0]
        except DatabaseError as exc:
            cause = exc.__cause__
            sqlstate = getattr(cause, "sqlstate", None)
            if sqlstate == REFUSAL_SQLSTATE:
                raise ledger_refusal(cause) from None
            if sqlstate not in _RETRY_SQLSTATES:
                raise
            if attempt == MAX_ATTEMPTS:
                raise LedgerBusy(
                    f"the capture stayed contended through {MAX_ATTEMPTS} attempts; try again",
                    extra={"sqlstate": sqlstate},
                ) from exc
            logger.info("payment capture retry %d after %s", attempt, sqlstate)
            time.sleep(random.uniform(0, BACKOFF_BASE_S * 2**attempt))  # noqa: S311
    raise AssertionError("unreachable")
