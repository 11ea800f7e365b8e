"""The one interface every bank gateway implements, and the values it speaks in.

A bank gateway is the platform's client for a bank that pays sellers (credit transfers) and tells
the platform what happened to them. Like a payment provider (payments/providers/base.py), its
methods make the network call and report what the bank says; they never touch Payout rows, hold
no database locks and run outside any transaction of the caller. The settlement services apply
the answer to the Payout under a row lock afterwards.

Exactly once: `submit` sends the payout id as the bank's idempotency key (and as the ISO 20022
end-to-end id), so a resubmission after a crash or a timeout is answered with the first transfer,
never a second one. A worker that does not know whether its submit reached the bank asks
`status` first; `None` there means the bank never saw the payout and a submit is safe.
`submit_many` sends several transfers at once (one request to a bank that takes them), each
still idempotent on its own payout id.

Callbacks are signed by the bank; `handle_callback` verifies the signature and the timestamp
before reading anything else, and raises InvalidBankCallback otherwise. A bank with many changes
to tell may send several transfer callbacks in one signed request; `handle_callbacks` reads a
request of either kind (by default: the one callback `handle_callback` reads).

One contract test suite (tests/settlement/test_gateway_contract.py) runs against every gateway.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from core.errors import ApplicationError

# What the bank says of one credit transfer.
TransferStatus = Literal[
    "accepted",  # taken in, not yet settled: money in flight
    "paid",  # settled to the creditor's account (final unless later returned)
    "returned",  # paid, then sent back by the creditor's bank (closed account, ...): final
    "rejected",  # refused before any money moved (invalid account, name mismatch): final
]
FINAL_TRANSFER_STATUSES: frozenset[str] = frozenset({"paid", "returned", "rejected"})

CallbackKind = Literal[
    "transfer",  # a change of a credit transfer's status
    "incoming",  # money arrived on the platform's own account (a buyer's bank transfer)
]


class BankError(ApplicationError):
    """The bank refused the request for good (a retry with the same content will not help)."""

    code = "bank_error"
    http_status = 409


class BankUnavailable(BankError):
    """The bank could not be reached, timed out or answered 5xx: the outcome is unknown. Ask
    `status` before anything else; never resubmit blind."""

    code = "bank_unavailable"
    http_status = 503
    # From submit_many: the answers of the transfers before the one whose outcome is unknown.
    answered: tuple = ()


class InvalidBankCallback(ApplicationError):
    """A callback whose signature, timestamp or content does not check out; nothing in it is
    trusted."""

    code = "invalid_bank_callback"
    http_status = 400


@dataclass(frozen=True)
class CreditTransfer:
    """One payout to one seller's account, as the bank is asked to make it."""

    payout_id: str  # the platform's id: the bank's idempotency key and the end-to-end id
    amount_minor: int
    currency: str
    creditor_name: str
    iban: str  # "" for a US account, named by the two fields below instead
    bic: str = ""
    remittance: str = ""  # the text on the seller's statement, e.g. the batch reference
    routing_number: str = ""  # a US account: its ABA routing number
    account_number: str = ""  # and its account number


@dataclass(frozen=True)
class TransferResult:
    """The bank's answer about one credit transfer."""

    status: TransferStatus
    payout_id: str
    bank_reference: str
    amount_minor: int
    currency: str
    failure_code: str = ""  # for rejected/returned: "closed_account", "invalid_account", ...
    failure_message: str = ""
    raw: dict = field(default_factory=dict)
    # The bank's own time of the state it reports (when the transfer became `status`), if the
    # bank says: answers that arrive out of order are put back in the bank's order by it.
    occurred_at: dt.datetime | None = None


@dataclass(frozen=True)
class BankCallback:
    """A verified callback, reduced to what the platform acts on."""

    callback_id: str  # unique per callback (webhook-id); duplicates carry the same id
    kind: CallbackKind
    occurred_at: dt.datetime
    # kind == "transfer"
    transfer: TransferResult | None = None
    # kind == "incoming": a credit to the platform's account
    reference: str = ""  # the creditor reference the payer quoted (RF...)
    amount_minor: int = 0
    currency: str = ""
    debtor_name: str = ""
    bank_reference: str = ""
    raw: dict = field(default_factory=dict)


class BankGateway(abc.ABC):
    name: str

    @abc.abstractmethod
    def submit(self, transfer: CreditTransfer) -> TransferResult:
        """Ask the bank to pay `transfer`. Idempotent on payout_id: a second submit of the same
        payout returns the first transfer's current state. Raises BankError when the bank refuses
        the request itself (malformed, unknown currency) and BankUnavailable when the outcome is
        unknown."""

    def submit_many(self, transfers: Sequence[CreditTransfer]) -> list[TransferResult | BankError]:
        """submit() for several transfers, in order: each one's answer, or the BankError that
        refused it alone. BankUnavailable when an outcome is unknown, with the answers before it
        in `answered`: ask `status` of the rest before anything else. A bank that takes several
        transfers in one request does it in one; by default, one request each."""
        results: list[TransferResult | BankError] = []
        for transfer in transfers:
            try:
                results.append(self.submit(transfer))
            except BankUnavailable as outage:
                outage.answered = tuple(results)
                raise
            except BankError as refused:
                results.append(refused)
        return results

    @abc.abstractmethod
    def status(self, *, payout_id: str) -> TransferResult | None:
        """What the bank did with this payout, or None if it never received it."""

    @abc.abstractmethod
    def handle_callback(self, *, headers: Mapping[str, str], body: bytes) -> BankCallback:
        """Verify a callback (signature and timestamp first) and say what it reports."""

    def handle_callbacks(
        self, *, headers: Mapping[str, str], body: bytes
    ) -> tuple[BankCallback, ...]:
        """Verify a callback request and say what each callback in it reports: one, or, from a
        bank that batches, several transfer callbacks, each with its own id."""
        return (self.handle_callback(headers=headers, body=body),)

    @abc.abstractmethod
    def statement(self, *, day: dt.date) -> bytes:
        """The platform account's bank-to-customer statement for `day`: camt.053 XML bytes."""
