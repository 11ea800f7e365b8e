"""The card payment fast path on PostgreSQL (payments/sql/payments_authorize_v1.sql).

    start_card_payment   payments_card_start(): lock the order, check it, write the vaulted card,
                         the Payment and its "created" event (payment_flows.payment_start's
                         transaction, and the API's order lookup folded in)
    apply_authorized     payments_card_authorize(): what payment_transition(-> authorized) does
                         with its holds, order_mark_paid and on_order_paid, in one statement

Each is one statement; outside a transaction it is its own (no BEGIN/COMMIT round trips). The
provider is called between the two with no transaction or lock held, as on the Python path.
apply_authorized returns None when the function declined ("fallback", nothing written) or the
ledger refused: the caller then runs the ordinary path, which raises what it raises.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone

from core.errors import Conflict, NotFound
from core.fast_sql import fetch_all as fast_call
from ledger.errors import LedgerError
from ledger.fastpath import REFUSAL_SQLSTATE
from ledger.requests import validate_request
from payments import conf
from payments.cards import CardInput
from payments.models import Order, OrderStatus, Payment, PaymentMethod, PaymentStatus, SubOrder
from payments.payment_ledger import _escrow, _hold_source, hold_request, hold_transfer_id
from payments.state import ACTIVE, IllegalTransition
from payments.vault import vault_log_stored, vault_seal_card

logger = logging.getLogger(__name__)

_START_SQL = (
    "SELECT * FROM payments_card_start(%s::uuid, %s::boolean, %s::bigint, %s::text[], %s::uuid, "
    "%s::text, %s::text, %s::jsonb, %s::uuid, %s::text, %s::text, %s::text, %s::integer, "
    "%s::integer, %s::text, %s::bytea, %s::bytea, %s::timestamptz)"
)
_AUTHORIZE_SQL = (
    "SELECT * FROM payments_card_authorize(%s::uuid, %s::text, %s::text, %s::bigint, %s::text, "
    "%s::text, %s::text, %s::jsonb, %s::text, %s::jsonb, %s::jsonb, %s::uuid, %s::timestamptz, "
    "%s::timestamptz, %s::text)"
)
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
MAX_ATTEMPTS = 4
_ACTIVE = sorted(ACTIVE)
_ORDER_FIELDS = ("id", "number", "buyer_id", "currency", "total_minor", "status", "metadata")


@dataclass(frozen=True)
class CardStart:
    """A started card payment (rows written, provider not yet called) and what its authorisation
    needs: the order's sub-orders as (id, seller_id, amount_minor, currency), by id."""

    payment: Payment
    sub_orders: tuple[tuple[int, int, int, str], ...]


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None)


def _json(value: Any) -> Any:
    # Django loads jsonb as text (JSONField decodes it); accept either.
    return json.loads(value) if isinstance(value, str | bytes) else value


def _call(sql: str, params: list) -> list[tuple]:
    """One statement: its own transaction in autocommit, a savepoint inside the caller's (so a
    failure leaves the caller's work intact). Deadlocks and serialization failures are retried
    whole, as ledger.services._post does."""
    conn = connections[DEFAULT_DB_ALIAS]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            if conn.in_atomic_block or not conn.get_autocommit():
                with transaction.atomic():
                    return fast_call(sql, params)
            return fast_call(sql, params)
        except DatabaseError as exc:
            if _sqlstate(exc) not in _RETRY_SQLSTATES or attempt == MAX_ATTEMPTS:
                raise
            logger.info("payment fast path retry %d after %s", attempt, _sqlstate(exc))
            time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311
    raise AssertionError("unreachable")


def _persisted(instance):
    instance._state.adding = False
    instance._state.db = DEFAULT_DB_ALIAS
    return instance


def start_card_payment(
    *,
    order_id: Any,
    provider: str,
    actor: str,
    card: CardInput,
    return_url: str,
    buyer_id: int | None = None,
    check_buyer: bool = False,
    capture_method: str = "manual",
) -> CardStart:
    """payment_start's transaction for a card, in one statement. With check_buyer the order must
    be buyer_id's (the API's lookup: anyone else's order is "not found", field "order")."""
    order_id = order_id if isinstance(order_id, uuid.UUID) else uuid.UUID(str(order_id))
    sealed = vault_seal_card(card=card)
    payment_id = uuid.uuid4()
    details = {
        "return_url": return_url,
        "card": {
            "token": sealed.token,
            "brand": sealed.brand,
            "last4": sealed.last4,
            "exp_month": sealed.exp_month,
            "exp_year": sealed.exp_year,
        },
    }
    if capture_method == "automatic":
        details["capture_method"] = capture_method
    now = timezone.now()
    rows = _call(
        _START_SQL,
        [
            order_id,
            check_buyer,
            buyer_id,
            _ACTIVE,
            payment_id,
            provider,
            actor,
            json.dumps(details),
            sealed.id,
            sealed.token,
            sealed.brand,
            sealed.last4,
            sealed.exp_month,
            sealed.exp_year,
            sealed.key_id,
            sealed.wrapped_key,
            sealed.ciphertext,
            now,
        ],
    )
    outcome, detail, number, buyer, currency, total_minor, metadata, sub_orders = rows[0]
    if outcome == "order_not_found":
        raise NotFound(
            "No such order.", code="order_not_found", field="order" if check_buyer else None
        )
    if outcome == "order_not_payable":
        label = dict(OrderStatus.choices).get(detail, detail)  # as get_status_display()
        raise Conflict(
            f"This order cannot be paid now (it is {str(label).lower()}).",
            code="order_not_payable",
        )
    if outcome == "payment_in_progress":
        raise Conflict(
            "A payment for this order is already in progress.",
            code="payment_in_progress",
            extra={"payment_id": detail},
        )
    assert outcome == "ok", outcome
    vault_log_stored(sealed)

    # The rows as written, without reading them back; the order's other fields load on access.
    known = dict(
        zip(
            _ORDER_FIELDS,
            (
                order_id,
                number,
                buyer,
                currency,
                total_minor,
                OrderStatus.AWAITING_PAYMENT,
                _json(metadata),
            ),
            strict=True,
        )
    )
    names = [f.attname for f in Order._meta.concrete_fields if f.attname in known]
    order = Order.from_db(DEFAULT_DB_ALIAS, names, [known[name] for name in names])
    vaulted = sealed.row(owner_id=buyer)
    vaulted.created_at = now
    _persisted(vaulted)
    payment = _persisted(
        Payment(
            id=payment_id,
            order=order,
            method=PaymentMethod.CARD,
            provider=provider,
            status=PaymentStatus.CREATED,
            amount_minor=total_minor,
            currency=currency,
            provider_reference="",
            failure_code="",
            failure_message="",
            created_at=now,
            updated_at=now,
            details=details,
            vaulted_card=vaulted,
            bank_reference=None,
            expires_at=None,
            captured_minor=0,
            provider_attempts=1,
        )
    )
    return CardStart(
        payment=payment,
        sub_orders=tuple(
            (int(sub_id), int(seller_id), int(amount), str(sub_currency))
            for sub_id, seller_id, amount, sub_currency in _json(sub_orders)
        ),
    )


def _load(payment_id: Any) -> CardStart | None:
    """The context of a payment started elsewhere (recovery, a replayed answer)."""
    payment = Payment.objects.select_related("order").filter(pk=payment_id).first()
    if payment is None:
        return None
    sub_orders = SubOrder.objects.filter(order_id=payment.order_id).order_by("id")
    return CardStart(
        payment=payment,
        sub_orders=tuple(sub_orders.values_list("id", "seller_id", "amount_minor", "currency")),
    )


def _hold_requests(payment: Payment, sub_orders) -> list[dict] | None:
    """ledger_place_holds' requests, checked by the ledger's own validation; None if one fails it
    (the Python path then reports it). Card payments only: holds come from the processor's
    account."""
    accounts = (_hold_source(payment), _escrow(payment))
    try:
        return [
            validate_request(
                hold_request(payment, sub_id, seller, amount, accounts=accounts)
            ).as_json()
            for sub_id, seller, amount, _currency in sub_orders
        ]
    except LedgerError:
        return None


def apply_authorized(
    *,
    payment_id: Any,
    reference: str,
    actor: str,
    reason: str,
    data: dict,
    started: CardStart | None = None,
) -> Payment | None:
    """payment_transition(to authorized) in one statement. Returns the payment, or None when the
    function declined or the ledger refused (nothing written: run the ordinary path). A replay
    (already authorized) returns the payment quietly; a payment that cannot become authorized
    raises IllegalTransition, as _transition_once does."""
    context = started or _load(payment_id)
    if context is None:
        return None
    payment = context.payment
    if payment.method == PaymentMethod.BANK_TRANSFER or not context.sub_orders:
        return None  # holds from bank receipts; or nothing to hold: the Python path decides
    holds = _hold_requests(payment, context.sub_orders)
    if holds is None:
        return None
    called = call_paid(
        _AUTHORIZE_SQL,
        context,
        actor=actor,
        reason=reason,
        data=data,
        reference=reference,
        batch=holds,
        batch_id=uuid.uuid4() if len(holds) > 1 else None,  # as create_transfers
    )
    if called is None:
        return None
    (outcome, detail, event_ids), now = called
    if outcome == "already":
        return Payment.objects.filter(pk=payment_id).first()
    if outcome != "ok":
        logger.info("payment %s: fast authorisation declined (%s)", payment_id, detail)
        return None
    mark_paid(payment, reference=reference, now=now, event_ids=event_ids)
    payment.status = PaymentStatus.AUTHORIZED
    payment.updated_at = now
    return payment


def call_paid(
    sql: str,
    context: CardStart,
    *,
    actor: str,
    reason: str,
    data: dict,
    reference: str,
    batch: list[dict],
    batch_id: uuid.UUID | None,
    extra: tuple = (),
) -> tuple[tuple, datetime] | None:
    """Call a function that marks the order paid (payments_card_authorize, payments_card_sale:
    the same leading arguments) at `now`. Returns (its row, now); None when the ledger refused
    (nothing written: the Python path raises its BatchFailed). "illegal" raises
    IllegalTransition, as payment_transition does."""
    payment = context.payment
    now = timezone.now()
    accept_by = now + conf.acceptance_window()
    sub_orders = [
        [sub_id, seller, amount, str(hold_transfer_id(payment.id, sub_id))]
        for sub_id, seller, amount, _currency in context.sub_orders
    ]
    try:
        rows = _call(
            sql,
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
                json.dumps(batch, separators=(",", ":")),
                batch_id,
                now,
                accept_by,
                accept_by.isoformat(),
                *extra,
            ],
        )
    except DatabaseError as exc:
        if _sqlstate(exc) != REFUSAL_SQLSTATE:
            raise
        return None
    row = rows[0]
    if row[0] == "illegal":
        detail = row[1]
        raise IllegalTransition(
            f"A payment that is {detail} cannot become {PaymentStatus.AUTHORIZED}.",
            extra={"from": detail, "to": PaymentStatus.AUTHORIZED},
        )
    return row, now


def mark_paid(payment: Payment, *, reference: str, now: datetime, event_ids) -> None:
    """After a paid call: dispatch its events after commit (one task; the dispatch of order.paid
    makes and seals the documents first) and bring the in-memory payment and order up to date."""
    from payments.order_events import dispatch_after_commit

    dispatch_after_commit(list(event_ids))
    payment.provider_reference = reference
    order = payment.order
    order.status = OrderStatus.PAID
    order.payment_failure_reason = ""
    order.updated_at = now
