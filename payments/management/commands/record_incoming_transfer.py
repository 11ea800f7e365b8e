"""Record money that arrived on the platform's bank account for a bank transfer payment.

    manage.py record_incoming_transfer RF18539007547034 125.50 EUR --bank-transaction-id TX-991

AMOUNT is a decimal string in the currency's units, parsed with core.money (never a float).
The bank transaction id makes the command safe to repeat; without one a unique id is made up and
printed (then running the command twice records two arrivals).
"""

import uuid

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from core.money import Money
from payments.flows.bank_arrivals import bank_transfer_record_arrival


class Command(BaseCommand):
    help = "Record an incoming bank transfer: REFERENCE AMOUNT CURRENCY."

    def add_arguments(self, parser):
        parser.add_argument("reference")
        parser.add_argument("amount", help="decimal string, e.g. 125.50")
        parser.add_argument("currency", help="ISO 4217 code, e.g. EUR")
        parser.add_argument(
            "--bank-transaction-id", default="", help="the bank's id for the credit"
        )
        parser.add_argument("--actor", default="staff:cli")

    def handle(self, *args, reference, amount, currency, bank_transaction_id, actor, **options):
        currency = currency.strip().upper()
        try:
            amount_minor = Money.parse(amount.strip(), currency).amount_minor
        except (ValueError, TypeError, ArithmeticError, LookupError, ApplicationError) as exc:
            raise CommandError(f"AMOUNT {amount!r} is not a valid amount in {currency}.") from exc
        if not bank_transaction_id:
            bank_transaction_id = f"manual-{uuid.uuid4()}"
            self.stderr.write(f"No --bank-transaction-id given; using {bank_transaction_id}")
        try:
            result = bank_transfer_record_arrival(
                reference=reference,
                amount_minor=amount_minor,
                currency=currency,
                bank_transaction_id=bank_transaction_id,
                actor=actor,
            )
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        arrival, payment = result.arrival, result.payment
        self.stdout.write(
            f"{'already recorded' if result.duplicate else arrival.outcome}: "
            f"{arrival.bank_transaction_id} {arrival.amount_minor} {arrival.currency} -> payment "
            f"{payment.id} ({payment.status}); received {result.received_minor}, "
            f"remaining {result.remaining_minor}, excess {arrival.excess_minor}"
        )
