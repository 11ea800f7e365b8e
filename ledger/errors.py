"""Ledger errors: each refusal has its own class, a stable code and a message that names the culprit.

The posting functions (PL/pgSQL, ledger/sql/) report a refusal as a code plus details (SQLSTATE
LG001, see ledger/posting.py); `ledger_error_from_code` turns that into the exception of that code
with its message.
"""

from __future__ import annotations

from typing import Any

from core.errors import ApplicationError


class LedgerError(ApplicationError):
    """The ledger refused the request; nothing was written."""

    code = "ledger_error"
    http_status = 422


class InvalidTransfer(LedgerError):
    """The transfer request is malformed."""

    code = "invalid_transfer"
    http_status = 400


class InvalidAmount(InvalidTransfer):
    """The amount must be a positive integer count of minor units."""

    code = "invalid_amount"


class InvalidAccount(LedgerError):
    """The account definition is not valid."""

    code = "invalid_account"
    http_status = 400


class AccountConflict(LedgerError):
    """An account with this currency and code exists with other settings."""

    code = "account_conflict"
    http_status = 409


class AccountNotFound(LedgerError):
    """No such ledger account."""

    code = "account_not_found"


class SameAccount(InvalidTransfer):
    """A transfer must debit one account and credit another."""

    code = "same_account"


class CurrencyMismatch(LedgerError):
    """The accounts and the transfer must share one currency."""

    code = "currency_mismatch"


class TransferExists(LedgerError):
    """A transfer with this id exists with other fields."""

    code = "transfer_exists"
    http_status = 409


class RecordExists(LedgerError):
    """A log record with this id exists with another kind or payload."""

    code = "record_exists"
    http_status = 409


class InvalidRecord(LedgerError):
    """The log record is malformed."""

    code = "invalid_record"
    http_status = 400


class PendingNotFound(LedgerError):
    """No pending transfer with this id."""

    code = "pending_not_found"


class PendingMismatch(LedgerError):
    """A close must name the pending transfer's own accounts and currency."""

    code = "pending_mismatch"


class PendingAlreadyClosed(LedgerError):
    """The pending transfer was already posted or voided."""

    code = "pending_already_closed"
    http_status = 409


class PendingExpired(LedgerError):
    """The pending transfer timed out; it can only be voided."""

    code = "pending_expired"
    http_status = 409


class ExceedsPendingAmount(InvalidAmount):
    """A post may not exceed the pending amount."""

    code = "exceeds_pending_amount"
    http_status = 422


class ExceedsLimit(LedgerError):
    """The transfer would take an account past its limit."""

    code = "exceeds_limit"

    @property
    def account_code(self) -> str:
        return self.extra.get("account_code", "")


class LedgerBusy(LedgerError):
    """The ledger stayed contended through every retry; try again."""

    code = "ledger_busy"
    http_status = 503


class BatchFailed(LedgerError):
    """One transfer of a linked batch was refused, so none was applied."""

    code = "batch_failed"

    def __init__(self, index: int, reason: LedgerError) -> None:
        super().__init__(
            f"transfer {index} of the batch was refused, so none was applied: {reason.message}",
            field=reason.field,
            extra={"index": index, "reason_code": reason.code, **reason.extra},
        )
        self.index = index
        self.reason = reason
        self.http_status = reason.http_status


def ledger_error_from_code(code: str, detail: dict[str, Any]) -> LedgerError:
    """Build the exception for a refusal reported as (code, details) by either posting path."""
    transfer_id = detail.get("transfer_id", "")
    account = detail.get("account_code") or detail.get("account_id", "")
    pending_id = detail.get("pending_id", "")
    extra = {key: value for key, value in detail.items() if key != "index"}
    match code:
        case "account_not_found":
            return AccountNotFound(
                f"ledger account {detail.get('account_id')} does not exist",
                field=detail.get("field"),
                extra=extra,
            )
        case "same_account":
            return SameAccount(
                f"transfer {transfer_id} debits and credits the same account "
                f"{detail.get('account_id')}",
                field="credit_account_id",
                extra=extra,
            )
        case "currency_mismatch":
            return CurrencyMismatch(
                f"transfer {transfer_id} is in {detail.get('currency')} but account {account} "
                f"is in {detail.get('account_currency')}",
                field="currency",
                extra=extra,
            )
        case "transfer_exists":
            return TransferExists(
                f"transfer {transfer_id} already exists with other fields "
                f"({detail.get('differs', 'fields differ')})",
                field="id",
                extra=extra,
            )
        case "pending_not_found":
            return PendingNotFound(
                f"no pending transfer {pending_id} to close", field="pending_id", extra=extra
            )
        case "pending_not_pending":
            return PendingNotFound(
                f"transfer {pending_id} is not a pending transfer", field="pending_id", extra=extra
            )
        case "pending_mismatch":
            return PendingMismatch(
                f"transfer {transfer_id} must name the accounts and currency of pending transfer "
                f"{pending_id}",
                field=detail.get("field"),
                extra=extra,
            )
        case "pending_already_closed":
            return PendingAlreadyClosed(
                f"pending transfer {pending_id} was already closed", field="pending_id", extra=extra
            )
        case "pending_expired":
            return PendingExpired(
                f"pending transfer {pending_id} timed out; it can only be voided",
                field="pending_id",
                extra=extra,
            )
        case "exceeds_pending_amount":
            return ExceedsPendingAmount(
                f"transfer {transfer_id} posts {detail.get('amount_minor')} but pending transfer "
                f"{pending_id} holds only {detail.get('pending_amount_minor')}",
                field="amount_minor",
                extra=extra,
            )
        case "exceeds_limit":
            side = (
                "debits would exceed credits"
                if detail.get("limit") == "debits_must_not_exceed_credits"
                else "credits would exceed debits"
            )
            return ExceedsLimit(
                f"transfer {transfer_id} would take account {account} past its limit: {side}",
                field="amount_minor",
                extra=extra,
            )
    raise AssertionError(f"unknown ledger error code {code!r}")
