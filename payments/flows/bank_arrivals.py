"""Bank transfer arrivals: the one service through which money reaching the platform's account
is applied to a payment (admin form, `manage.py record_incoming_transfer`, the bank's feed).

Behaviour (docs/payments.md, "Bank transfer"):
- exact amount: the payment is authorised and captured at once (the money is in our account);
- underpaid: the arrival is recorded, the payment keeps waiting for the rest (the instructions page
  and the API show the remaining amount); a later arrival that makes up the total completes it;
- overpaid: the payment completes; the excess is recorded on the arrival (excess_minor) and stays
  in platform:bank_receipts for staff to refund;
- after the payment expired, failed or completed: the whole arrival is excess (refund by staff);
- unknown reference: NotFound (field "reference"); nothing is written;
- the same bank_transaction_id again: the first arrival is returned, nothing is written.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from core.errors import Conflict, NotFound, ValidationError
from payments.flows.ledger import ledger_record_bank_arrival
from payments.flows.models import BankTransferArrival, Payment, PaymentMethod, PaymentStatus
from payments.flows.state import payment_transition
from payments.flows.transitions import lock_payment
from payments.orders.services import lock_order_rows
from payments.providers.rf_reference import is_valid, normalize

logger = logging.getLogger(__name__)
S = PaymentStatus


@dataclass(frozen=True)
class ArrivalResult:
    arrival: BankTransferArrival
    payment: Payment
    duplicate: bool
    received_minor: int
    remaining_minor: int


def _received(payment: Payment) -> int:
    return sum(payment.bank_arrivals.values_list("amount_minor", flat=True))


def _validate(reference: str, amount_minor: int, currency: str, bank_transaction_id: str) -> str:
    reference = normalize(reference)
    if not reference:
        raise ValidationError("Enter the transfer's reference.", field="reference")
    if not is_valid(reference):
        raise ValidationError(
            "This is not a valid RF reference (check the digits).", field="reference"
        )
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValidationError(
            "The amount must be a positive whole number of minor units.", field="amount"
        )
    if not re.fullmatch(r"[A-Z]{3}", currency or ""):
        raise ValidationError(
            "The currency must be a three-letter ISO 4217 code.", field="currency"
        )
    if not bank_transaction_id or len(bank_transaction_id) > 128:
        raise ValidationError("Enter the bank's transaction id.", field="bank_transaction_id")
    return reference


def bank_transfer_record_arrival(
    *, reference: str, amount_minor: int, currency: str, bank_transaction_id: str, actor: str
) -> ArrivalResult:
    """Record money that arrived quoting `reference`. Idempotent on bank_transaction_id."""
    reference = _validate(reference, amount_minor, currency, bank_transaction_id)
    try:
        with transaction.atomic():
            result = _record(reference, amount_minor, currency, bank_transaction_id, actor)
    except IntegrityError:
        # The same bank transaction recorded concurrently: the first one stands.
        result = _existing(bank_transaction_id, reference, amount_minor, currency)
        if result is None:
            raise
    return result


def _existing(bank_transaction_id, reference, amount_minor, currency) -> ArrivalResult | None:
    arrival = (
        BankTransferArrival.objects.select_related("payment")
        .filter(bank_transaction_id=bank_transaction_id)
        .first()
    )
    if arrival is None:
        return None
    if (arrival.reference, arrival.amount_minor, arrival.currency) != (
        reference,
        amount_minor,
        currency,
    ):
        raise Conflict(
            "This bank transaction was already recorded with other details.",
            code="bank_transaction_conflict",
            field="bank_transaction_id",
        )
    received = _received(arrival.payment)
    return ArrivalResult(
        arrival=arrival,
        payment=arrival.payment,
        duplicate=True,
        received_minor=received,
        remaining_minor=max(arrival.payment.amount_minor - received, 0),
    )


def _record(reference, amount_minor, currency, bank_transaction_id, actor) -> ArrivalResult:
    existing = _existing(bank_transaction_id, reference, amount_minor, currency)
    if existing is not None:
        return existing
    payment_id = (
        Payment.objects.filter(bank_reference=reference, method=PaymentMethod.BANK_TRANSFER)
        .values_list("id", flat=True)
        .first()
    )
    if payment_id is None:
        raise NotFound(
            f"No payment has the reference {reference}.",
            code="unknown_reference",
            field="reference",
        )
    payment = lock_payment(payment_id)
    # The order's rows before the ledger's accounts: a completed transfer authorises the payment,
    # which takes them (the one lock order: Payment -> CheckoutSession -> Order -> SubOrders ->
    # Products -> ledger accounts; docs/architecture.md).
    lock_order_rows(payment.order_id)
    if currency != payment.currency:
        raise ValidationError(
            f"This payment is in {payment.currency}, not {currency}.", field="currency"
        )
    received_before = _received(payment)
    ledger_record_bank_arrival(
        payment=payment,
        bank_transaction_id=bank_transaction_id,
        amount_minor=amount_minor,
        currency=currency,
    )
    received = received_before + amount_minor
    if payment.status == S.AWAITING_TRANSFER:
        if received < payment.amount_minor:
            outcome, excess = "partial", 0
        else:
            excess = received - payment.amount_minor
            outcome = "completed_with_excess" if excess else "completed"
    else:
        outcome, excess = f"late_{payment.status}", amount_minor
    arrival = BankTransferArrival.objects.create(
        payment=payment,
        bank_transaction_id=bank_transaction_id,
        reference=reference,
        amount_minor=amount_minor,
        currency=currency,
        outcome=outcome,
        excess_minor=excess,
        actor=actor[:64],
    )
    data = {
        "bank_transaction_id": bank_transaction_id,
        "amount_minor": amount_minor,
        "received_minor": received,
        "excess_minor": excess,
    }
    if outcome.startswith("completed"):
        payment_transition(
            payment_id=payment.id,
            to_status=S.AUTHORIZED,
            actor=actor,
            reason="bank transfer received in full",
            data=data,
        )
        # The money is already in the platform's account: captured on arrival.
        payment = payment_transition(
            payment_id=payment.id,
            to_status=S.CAPTURED,
            actor=actor,
            reason="bank transfer captured on arrival",
            data=data,
        )
    logger.info(
        "bank transfer %s: %s %s for payment %s -> %s (received %s, excess %s)",
        bank_transaction_id,
        amount_minor,
        currency,
        payment.id,
        outcome,
        received,
        excess,
    )
    payment.refresh_from_db()
    return ArrivalResult(
        arrival=arrival,
        payment=payment,
        duplicate=False,
        received_minor=received,
        remaining_minor=max(payment.amount_minor - received, 0),
    )
