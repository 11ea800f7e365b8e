"""The capture fast path on PostgreSQL (payments/sql/payments_capture_v1.sql).

A full capture (no per-sub-order amounts) costs three statements besides the request's own:

    load_for_capture      the payment, its order's number and buyer, its sub-orders and whether
                          any hold was already settled on its own: one SELECT (the view's lookup,
                          payment_capture's re-read and payment_ledger.any_hold_settled)
    the processor         payments_sandbox_capture (sandbox_card.SandboxCardProcessor.capture)
    apply_full_capture    payments_capture_full: authorized -> captured, holds posted, events

A partial capture, and whatever apply_full_capture declines (answering None, having written
nothing), still go through payment_flows.payment_capture -> state.payment_transition.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from core.errors import NotFound
from core.fast_sql import fetch_all as fast_call
from ledger import fastpath as ledger_fastpath
from ledger.errors import LedgerError
from ledger.requests import validate_request
from payments import order_events
from payments.models import Order, Payment, SubOrder
from payments.payment_ledger import _close_hold, _escrow, _hold_source, hold_transfer_id
from payments.state import IllegalTransition

logger = logging.getLogger(__name__)

_PAYMENT_FIELDS = [field.attname for field in Payment._meta.concrete_fields]
# Fields that need converting from what the database driver gives (JSON arrives as text).
_PAYMENT_CONVERTERS = [
    getattr(field, "from_db_value", None) for field in Payment._meta.concrete_fields
]
_ORDER_FIELDS = ["id", "number", "buyer_id"]

# The closes of this payment's holds: the holds are the pending transfers that reference the
# payment (ledger_place_holds); the caller keeps those whose pending_id is one of the hold ids,
# which is exactly payment_ledger.any_hold_settled.
_LOAD_SQL = (  # the column names are the model's own, not input
    "SELECT "  # noqa: S608
    + ", ".join(f'p."{Payment._meta.get_field(name).column}"' for name in _PAYMENT_FIELDS)
    + """, o.number, o.buyer_id,
       ARRAY(SELECT s.id FROM payments_suborder s WHERE s.order_id = p.order_id ORDER BY s.id),
       ARRAY(SELECT s.amount_minor FROM payments_suborder s
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
    "SELECT * FROM payments_capture_full(%s::uuid, %s::text, %s::bigint, %s::bigint[], "
    "%s::bigint[], %s::jsonb, %s::uuid)"
)
# Deadlock, serialization failure, lock not available, a concurrent twin's insert: try again
# (the call wrote nothing), as ledger.services._post does.
_RETRY_SQLSTATES = {"40P01", "40001", "55P03", "23505"}
MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 0.004


@dataclass
class CaptureTarget:
    """What payment_capture needs of a payment, read in one statement."""

    payment: Payment  # with .order (id, number, buyer_id loaded)
    sub_order_ids: list[int]  # ascending
    sub_order_amounts: list[int]
    settled: bool  # some sub-order's hold was already captured or released on its own


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
    number, buyer_id, sub_ids, sub_amounts, closed = row[n:]
    payment.order = Order.from_db(
        DEFAULT_DB_ALIAS, _ORDER_FIELDS, [payment.order_id, number, buyer_id]
    )
    hold_ids = {hold_transfer_id(payment.id, sub_id) for sub_id in sub_ids}
    return CaptureTarget(
        payment=payment,
        sub_order_ids=list(sub_ids),
        sub_order_amounts=list(sub_amounts),
        settled=any(pending_id in hold_ids for pending_id in closed),
    )


def full_capture_requests(payment: Payment, sub_orders) -> list[dict] | None:
    """payment_ledger.ledger_capture_holds' requests for a full capture of `sub_orders`
    ((id, amount_minor) pairs), checked as the ledger checks them (None: something the Python
    path must refuse in its own words)."""
    accounts = (_hold_source(payment), _escrow(payment))
    try:
        return [
            validate_request(
                _close_hold(
                    payment,
                    SubOrder(id=sub_id, amount_minor=amount),
                    capture_minor=amount,
                    void_reason="payment_capture_released",
                    accounts=accounts,
                )
            ).as_json()
            for sub_id, amount in sub_orders
        ]
    except LedgerError:
        return None


def _ledger_requests(target: CaptureTarget) -> list[dict] | None:
    return full_capture_requests(
        target.payment, zip(target.sub_order_ids, target.sub_order_amounts, strict=True)
    )


def apply_full_capture(target: CaptureTarget, *, actor: str, captured_minor: int) -> Payment | None:
    """authorized -> captured for the whole payment in one call (the provider has captured:
    `captured_minor` is its answer, recorded in the PaymentEvent). Returns target.payment brought
    up to date, raises IllegalTransition / NotFound as payment_transition does, or returns None
    having written nothing when the Python path must do it (fast path off, a ledger refusal,
    sub-orders not as read, persistent contention)."""
    payment = target.payment
    if not target.sub_order_ids:
        return None
    requests = _ledger_requests(target)
    if requests is None:
        return None
    batch_id = uuid.uuid4() if len(requests) > 1 else None
    params = [
        payment.id,
        actor[:64],
        captured_minor,
        target.sub_order_ids,
        target.sub_order_amounts,
        json.dumps(requests, separators=(",", ":")),
        batch_id,
    ]
    conn = connections[DEFAULT_DB_ALIAS]
    row = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            if conn.in_atomic_block:
                # A failed call must not break the caller's transaction (tests, nested use).
                with transaction.atomic():
                    row = fast_call(_CAPTURE_SQL, params)[0]
            else:
                row = fast_call(_CAPTURE_SQL, params)[0]
            break
        except DatabaseError as exc:
            sqlstate = getattr(exc.__cause__, "sqlstate", None)
            if sqlstate == ledger_fastpath.REFUSAL_SQLSTATE:
                return None  # the Python path meets the same refusal and raises it
            if sqlstate not in _RETRY_SQLSTATES:
                raise
            if attempt == MAX_ATTEMPTS:
                return None
            logger.info("capture fast path retry %d after %s", attempt, sqlstate)
            time.sleep(random.uniform(0, BACKOFF_BASE_S * 2**attempt))  # noqa: S311
    outcome, status, total, updated_at, event_id = row
    if outcome == "fallback":
        return None
    if outcome == "payment_not_found":
        raise NotFound("No such payment.", code="payment_not_found")
    if outcome == "illegal":
        raise IllegalTransition(
            f"A payment that is {status} cannot become captured.",
            extra={"from": status, "to": "captured"},
        )
    # "captured", or "already" (a replay: captured by a concurrent call; returns quietly).
    payment.status, payment.captured_minor, payment.updated_at = status, total, updated_at
    if event_id is not None:
        order_events.dispatch_after_commit([event_id])
    return payment
