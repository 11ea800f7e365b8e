"""What a bank statement says, whatever format it came in: the values camt053.py reads into.

Amounts are integer minor units of the account's currency (core.money's exponent); an Entry's
amount is positive and `credit_debit` gives its direction, a Balance's amount is signed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

BOOKED = "BOOK"  # the status of an entry that moved the balance (PDNG and INFO did not)
CreditDebit = Literal["CRDT", "DBIT"]


@dataclass(frozen=True)
class Balance:
    amount_minor: int  # signed: negative when the bank reports it as a debit (overdrawn)
    currency: str
    date: dt.date


@dataclass(frozen=True)
class Entry:
    """One transaction as booked (or reported pending) on the account."""

    amount_minor: int  # positive; the direction is credit_debit
    currency: str
    credit_debit: CreditDebit  # as booked on this account: CRDT money in, DBIT money out
    status: str  # BOOK, PDNG, INFO (or the bank's proprietary status)
    booking_date: dt.date | None
    value_date: dt.date | None
    end_to_end_id: str  # for the platform's payouts, the payout id; "" when not provided
    bank_reference: str  # the bank's own reference (AcctSvcrRef of the transaction or entry)
    remittance: str  # unstructured remittance lines, joined by a space
    counterparty_name: str
    counterparty_iban: str
    reversal: bool = False
    creditor_reference: str = ""  # structured creditor reference (RF...), for incoming payments
    return_reason: str = ""  # ISO return reason code (AC04 closed account, ...) of a return
    bank_transaction_code: str = ""  # Domain/Family/SubFamily, e.g. "PMNT/ICDT/ESCT"
    entry_reference: str = ""  # NtryRef: shared by the transactions of one batch booking

    @property
    def signed_amount_minor(self) -> int:
        """The effect on the account balance: positive for a credit, negative for a debit."""
        return self.amount_minor if self.credit_debit == "CRDT" else -self.amount_minor


@dataclass(frozen=True)
class Statement:
    message_id: str
    statement_id: str
    version: str  # "camt.053.001.08"
    account_iban: str
    currency: str
    created_at: dt.datetime  # aware: a time without offset is read in `assume_timezone`
    opening_balance: Balance
    closing_balance: Balance
    entries: tuple[Entry, ...]

    @property
    def booked_entries(self) -> tuple[Entry, ...]:
        return tuple(entry for entry in self.entries if entry.status == BOOKED)
