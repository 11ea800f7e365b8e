"""A payment's start (card) and authorisation on PostgreSQL: one statement each
(payments/sql/payments_authorize_v1.sql for the start, payments_authorize_v2.sql for the rest).

    start_payment   payments_card_start(): lock the order, check it, write the vaulted card,
                         the Payment and its "created" event (payment_flows.payment_start's
                         transaction, and the API's order lookup folded in)
    apply_authorized     payments_authorize(): authorized (any method), with its holds, the
                         PaymentEvent, payment.authorized and the order paid
                         (payments_order_mark_paid); with capture=True a sale, captured too

apply_authorized is the only place a payment becomes authorised: payment_transition(to
authorized) comes here too. Python reads the payment and its sub-orders, builds the ledger
requests and turns the function's refusals into the errors the rules raise. The provider is
called between the two statements with no transaction or lock held.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone

from core.errors import Conflict, IntegrityViolation, NotFound
from core.fast_sql import fetch_all as fast_call
from ledger.errors import BatchFailed, LedgerError
from ledger.posting import REFUSAL_SQLSTATE as LEDGER_REFUSAL_SQLSTATE
from ledger.requests import validate_request
from payments import conf
from payments.flows.capture_plpgsql import capture_requests, ledger_refusal
from payments.flows.ledger import _escrow, _hold_source, hold_request, hold_transfer_id
from payments.flows.models import Payment, PaymentStatus
from payments.flows.state import ACTIVE, IllegalTransition
from payments.orders.models import Order, OrderStatus, SubOrder
from payments.vault.cards import CardInput
from payments.vault.services import vault_log_stored, vault_seal_card

logger = logging.getLogger(__name__)

_START_SQL = (
    "SELECT * FROM payments_start(%s::uuid, %s::boolean, %s::bigint, %s::text[], %s::uuid, "
    "%s::text, %s::text, %s::text, %s::jsonb, %s::text, %s::uuid, %s::text, %s::text, %s::text, "
    "%s::integer, %s::integer, %s::text, %s::bytea, %s::bytea, %s::timestamptz)"
)
_AUTHORIZE_SQL = (
    "SELECT * FROM payments_authorize(%s::uuid, %s::text, %s::text, %s::bigint, %s::text, "
    "%s::text, %s::text, %s::jsonb, %s::text, %s::jsonb, %s::jsonb, %s::uuid, %s::timestamptz, "
    "%s::timestamptz, %s::text, %s::boolean, %s::jsonb)"
)
REFUSAL_SQLSTATE = "PM001"  # payments_refuse
STALE_READS = 3  # the payment and its sub-orders read again when they changed meanwhile
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
MAX_ATTEMPTS = 4
_ACTIVE = sorted(ACTIVE)
_ORDER_FIELDS = ("id", "number", "buyer_id", "currency", "total_minor", "status", "metadata")


@dataclass(frozen=True)
class Started:
    """A started payment (rows written, provider not yet called) and what its authorisation
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


def start_payment(
    *,
    order_id: Any,
    method: str,
    provider: str,
    actor: str,
    return_url: str,
    card: CardInput | None = None,
    wallet: str | None = None,
    bank_reference: str | None = None,
    buyer_id: int | None = None,
    check_buyer: bool = False,
    capture_method: str = "manual",
) -> Started:
    """payment_start's writes, in one statement (payments_start): the order locked and checked,
    the vaulted card (`card`, sealed here), the Payment and its "created" event. With check_buyer
    the order must be buyer_id's (the API's lookup: anyone else's order is "not found", field
    "order")."""
    order_id = order_id if isinstance(order_id, uuid.UUID) else uuid.UUID(str(order_id))
    sealed = vault_seal_card(card=card) if card is not None else None
    payment_id = uuid.uuid4()
    details: dict = {"return_url": return_url}
    if sealed is not None:
        details["card"] = {
            "token": sealed.token,
            "brand": sealed.brand,
            "last4": sealed.last4,
            "exp_month": sealed.exp_month,
            "exp_year": sealed.exp_year,
        }
    if wallet is not None:
        details["wallet"] = wallet
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
            method,
            provider,
            actor,
            json.dumps(details),
            bank_reference,
            *(
                (
                    sealed.id,
                    sealed.token,
                    sealed.brand,
                    sealed.last4,
                    sealed.exp_month,
                    sealed.exp_year,
                    sealed.key_id,
                    sealed.wrapped_key,
                    sealed.ciphertext,
                )
                if sealed is not None
                else (None,) * 9
            ),
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
    vaulted = None
    if sealed is not None:
        vault_log_stored(sealed)
        vaulted = _persisted(sealed.row(owner_id=buyer))
        vaulted.created_at = now

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
    payment = _persisted(
        Payment(
            id=payment_id,
            order=order,
            method=method,
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
            bank_reference=bank_reference,
            expires_at=None,
            captured_minor=0,
            provider_attempts=1,
        )
    )
    return Started(
        payment=payment,
        sub_orders=tuple(
            (int(sub_id), int(seller_id), int(amount), str(sub_currency))
            for sub_id, seller_id, amount, sub_currency in _json(sub_orders)
        ),
    )


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
    """The holds' ledger requests (payment_ledger.hold_request: one pending transfer per
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


def refusal_error(code: str, detail: dict, *, payment_amount: int | None = None) -> Exception:
    """payments_refuse's code and detail as the error the Python rules raised."""
    from payments.orders.services import OrderNotPayable, OutOfStock, UnknownProduct

    if code == "order_not_payable":
        label = dict(OrderStatus.choices).get(detail["status"], detail["status"])
        return OrderNotPayable(f"Order {detail['number']} is {str(label).lower()}.")
    if code == "unknown_product":
        return UnknownProduct(field="product_id")
    if code == "out_of_stock":
        stock = detail["stock"]
        left = f"only {stock} left" if stock > 0 else "it is out of stock"
        return OutOfStock(
            f"Not enough stock of “{detail['title']}”: you asked for {detail['wanted']}, {left}.",
            field="quantity",
            extra={"product_id": detail["product_id"], "available": stock},
        )
    if code == "sub_orders_do_not_match_payment":
        return IntegrityViolation(
            f"Sub-orders sum to {detail['total']}, the payment is {payment_amount}.",
            code="sub_orders_do_not_match_payment",
        )
    if code == "currency":
        return IntegrityViolation("Sub-order currency differs from the payment's.", code="currency")
    raise AssertionError(f"unknown refusal {code}")


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
        rows = _call(
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
    from payments.orders.events import dispatch_after_commit

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
