"""What the bank does: accounts, credit transfers, their clearing, incoming credits, statements.

Money moves only between the bank's own accounts, and every move is a pair of bookings (one
debit, one credit) written with the balances they change, in one transaction. A transfer's life:

    accepted --(settle_delay_ms)--> paid --(return, sandbox flag or knob)--> returned
             \\-> rejected (unknown or closed account, other currency, name mismatch): no money moved

Each change to paid, rejected or returned writes its callback in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from schwifty import IBAN

from . import callbacks, validation
from .config import BANK_BIC, BANK_CODE, BankConfig
from .errors import BadRequest, BankRefusal, Conflict, NotFound
from .faults import Faults
from .store import Database, iso, utc_now

CLEARING_BATCH = 100  # transfers settled per transaction
MAX_LIST_LIMIT = 1000
MAX_BATCH_TRANSFERS = 100  # credit transfers in one POST /transfers/batch

# Why a transfer was refused or sent back: the platform's code and the ISO 20022 reason code.
INVALID_ACCOUNT = ("invalid_account", "AC01", "No account with this IBAN at the creditor's bank.")
CLOSED_ACCOUNT = ("closed_account", "AC04", "The creditor's account is closed.")
CURRENCY_MISMATCH = ("currency_mismatch", "AM03", "The account is held in another currency.")
NAME_MISMATCH = ("name_mismatch", "BE01", "The name does not match the account holder's.")
RETURNED = (
    "closed_account",
    "AC04",
    "The creditor's bank sent the money back: the account was closed after the credit.",
)

_TRANSFER_FIELDS = frozenset(
    {"payout_id", "amount_minor", "currency", "creditor_name", "creditor_iban", "creditor_bic"}
    | {"remittance", "creditor_routing_number", "creditor_account_number"}
)
_INCOMING_FIELDS = frozenset(
    {"reference", "amount_minor", "currency", "debtor_name", "debtor_iban", "end_to_end_id"}
)
_ACCOUNT_FIELDS = frozenset(
    {"iban", "bic", "holder_name", "currency", "opening_balance_minor", "returns_credits"}
    | {"routing_number", "account_number"}
)


def _refuse_unknown_fields(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"Unknown field {unknown[0]!r}.", code="unknown_field", field=unknown[0])


def _request_hash(fields: Mapping[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def platform_iban(currency: str) -> str:
    """The platform's account for `currency`: a fixed, valid IBAN at this bank."""
    number = sum((ord(char) - 65) * 26**power for power, char in enumerate(reversed(currency)))
    return IBAN.generate("DE", bank_code=BANK_CODE, account_code=f"9{number:09d}").compact


def account_identity(body: Mapping[str, Any], *, prefix: str = "") -> tuple[str | None, str, str]:
    """(iban, routing number, account number) of the account a request names: by IBAN, or a US
    account by `<prefix>routing_number` and `<prefix>account_number` (not both ways at once)."""
    iban_field = f"{prefix}iban"
    routing_field, number_field = f"{prefix}routing_number", f"{prefix}account_number"
    if body.get(routing_field) or body.get(number_field):
        if body.get(iban_field):
            raise BadRequest(
                "Name the account by its IBAN or by a US routing and account number, not both.",
                field=iban_field,
            )
        return (
            None,
            validation.aba_routing_number(body.get(routing_field), field=routing_field),
            validation.us_account_number(body.get(number_field), field=number_field),
        )
    return validation.iban(body.get(iban_field), field=iban_field), "", ""


def _find_account(
    connection: sqlite3.Connection,
    iban: str | None,
    routing: str,
    number: str,
    *,
    customer_only: bool = False,
) -> sqlite3.Row | None:
    """The account with this IBAN, or (iban None) this US routing and account number."""
    if iban:
        row = connection.execute("SELECT * FROM accounts WHERE iban = ?", (iban,)).fetchone()
    else:
        row = connection.execute(
            "SELECT * FROM accounts"
            " WHERE iban IS NULL AND routing_number = ? AND account_number = ?",
            (routing, number),
        ).fetchone()
    if row is not None and customer_only and row["is_platform"]:
        return None
    return row


def account_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "iban": row["iban"] or "",
        "routing_number": row["routing_number"],
        "account_number": row["account_number"],
        "bic": row["bic"],
        "holder_name": row["holder_name"],
        "currency": row["currency"],
        "balance_minor": row["balance_minor"],
        "status": row["status"],
        "is_platform": bool(row["is_platform"]),
        "returns_credits": bool(row["returns_credits"]),
        "created_at": row["created_at"],
        "closed_at": row["closed_at"],
    }


def transfer_json(row: sqlite3.Row) -> dict[str, Any]:
    status = row["status"]
    return {
        "payout_id": row["payout_id"],
        "bank_reference": row["bank_reference"],
        "status": status,
        "amount_minor": row["amount_minor"],
        "currency": row["currency"],
        "creditor_name": row["creditor_name"],
        "creditor_iban": row["creditor_iban"],
        "creditor_routing_number": row["creditor_routing_number"],
        "creditor_account_number": row["creditor_account_number"],
        "creditor_bic": row["creditor_bic"],
        "remittance": row["remittance"],
        "failure_code": row["failure_code"],
        "reason_code": row["reason_code"],
        "failure_message": row["failure_message"],
        "accepted_at": row["accepted_at"],
        "paid_at": row["settled_at"] if status in ("paid", "returned") else None,
        "rejected_at": row["settled_at"] if status == "rejected" else None,
        "returned_at": row["returned_at"],
    }


def incoming_json(row: sqlite3.Row, account_iban: str) -> dict[str, Any]:
    return {
        "bank_reference": row["bank_reference"],
        "reference": row["reference"],
        "amount_minor": row["amount_minor"],
        "currency": row["currency"],
        "debtor_name": row["debtor_name"],
        "debtor_iban": row["debtor_iban"],
        "account_iban": account_iban,
        "received_at": row["received_at"],
    }


class _PreparedTransfer(NamedTuple):
    fields: dict[str, Any]
    routing_number: str
    account_number: str
    request_hash: str


@dataclass(frozen=True)
class StatementAccount:
    account: sqlite3.Row
    opening_minor: int
    bookings: list[sqlite3.Row]

    @property
    def closing_minor(self) -> int:
        return self.opening_minor + sum(row["amount_minor"] for row in self.bookings)


class Bank:
    def __init__(
        self,
        db: Database,
        config: BankConfig,
        faults: Faults,
        *,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.config = config
        self.faults = faults
        self._on_change = on_change  # wakes the clearing and callback threads

    # --- accounts -------------------------------------------------------------------------------

    def platform_account(self, connection: sqlite3.Connection, currency: str) -> sqlite3.Row:
        """The platform's account in `currency`, opened on first use (inside the caller's write)."""
        row = connection.execute(
            "SELECT * FROM accounts WHERE is_platform = 1 AND currency = ?", (currency,)
        ).fetchone()
        if row is not None:
            return row
        opening = self.config.platform_opening_balance_minor
        connection.execute(
            "INSERT INTO accounts (iban, bic, holder_name, currency, opening_balance_minor,"
            " balance_minor, is_platform, created_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
            (
                platform_iban(currency),
                BANK_BIC,
                self.config.platform_name,
                currency,
                opening,
                opening,
                iso(utc_now()),
            ),
        )
        return connection.execute(
            "SELECT * FROM accounts WHERE is_platform = 1 AND currency = ?", (currency,)
        ).fetchone()

    def ensure_platform_account(self, currency: str) -> dict[str, Any]:
        with self.db.write() as connection:
            return account_json(self.platform_account(connection, currency))

    def open_account(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Open a customer's account; (account, created). Opening the same account again with the
        same holder and currency answers the existing one (so seeding can be re-run)."""
        _refuse_unknown_fields(body, _ACCOUNT_FIELDS)
        iban, routing, number = account_identity(body)
        bic = validation.bic(body.get("bic")) or (_bic_for(iban) if iban else "")
        holder = validation.text(body.get("holder_name"), field="holder_name", max_chars=70)
        currency = validation.currency(body.get("currency"))
        opening = body.get("opening_balance_minor", 0)
        if isinstance(opening, bool) or not isinstance(opening, int) or not 0 <= opening <= 10**15:
            raise BadRequest(
                "opening_balance_minor is a whole number from 0.", field="opening_balance_minor"
            )
        returns_credits = body.get("returns_credits", False)
        if not isinstance(returns_credits, bool):
            raise BadRequest("returns_credits is true or false.", field="returns_credits")
        with self.db.write() as connection:
            existing = _find_account(connection, iban, routing, number)
            if existing is not None:
                if existing["is_platform"] or (existing["holder_name"], existing["currency"]) != (
                    holder,
                    currency,
                ):
                    raise Conflict(
                        "This account exists for another holder or currency.",
                        code="account_exists",
                        field="iban" if iban else "account_number",
                    )
                return account_json(existing), False
            cursor = connection.execute(
                "INSERT INTO accounts (iban, routing_number, account_number, bic, holder_name,"
                " currency, opening_balance_minor, balance_minor, returns_credits, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    iban,
                    routing,
                    number,
                    bic,
                    holder,
                    currency,
                    opening,
                    opening,
                    int(returns_credits),
                    iso(utc_now()),
                ),
            )
            row = connection.execute(
                "SELECT * FROM accounts WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
        return account_json(row), True

    def account(self, iban: str) -> dict[str, Any]:
        iban = validation.iban(iban)
        row = (
            self.db.connection()
            .execute("SELECT * FROM accounts WHERE iban = ?", (iban,))
            .fetchone()
        )
        if row is None:
            raise NotFound("No account with this IBAN.", field="iban")
        return account_json(row)

    def list_accounts(self, *, platform: bool | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM accounts"
        params: tuple = ()
        if platform is not None:
            sql += " WHERE is_platform = ?"
            params = (int(platform),)
        rows = self.db.connection().execute(sql + " ORDER BY id", params).fetchall()
        return [account_json(row) for row in rows]

    def close_account(self, iban: str) -> dict[str, Any]:
        iban = validation.iban(iban)
        with self.db.write() as connection:
            row = connection.execute("SELECT * FROM accounts WHERE iban = ?", (iban,)).fetchone()
            if row is None:
                raise NotFound("No account with this IBAN.", field="iban")
            if row["is_platform"]:
                raise Conflict("The platform's accounts stay open.", field="iban")
            connection.execute(
                "UPDATE accounts SET status = 'closed', closed_at = COALESCE(closed_at, ?)"
                " WHERE id = ?",
                (iso(utc_now()), row["id"]),
            )
            row = connection.execute("SELECT * FROM accounts WHERE id = ?", (row["id"],)).fetchone()
        return account_json(row)

    # --- transfers ------------------------------------------------------------------------------

    def submit_transfer(
        self, body: Mapping[str, Any], *, idempotency_key: str
    ) -> tuple[dict[str, Any], bool]:
        """Accept a credit transfer; (transfer, created). Idempotent on the payout id: the same
        request again answers the first transfer as it is now; different content under the
        same id is a conflict and changes nothing."""
        prepared = self._prepare_transfer(body, idempotency_key=idempotency_key)
        with self.db.write() as connection:
            transfer, created = self._store_transfer(connection, prepared)
        if created:
            self._on_change()
        return transfer, created

    def submit_transfers(self, bodies: list[Any]) -> list[dict[str, Any]]:
        """Accept several credit transfers in one request, each as submit_transfer would (its
        payout id is its idempotency key), in one transaction; one refused leaves the others be.
        Each result: {"status": 201 | 200, "transfer": ...} or {"status": 4xx, "error": ...}."""
        results: list[dict[str, Any]] = []
        prepared: dict[int, _PreparedTransfer] = {}
        for index, body in enumerate(bodies):
            try:
                if not isinstance(body, Mapping):
                    raise BadRequest("Each transfer is a JSON object.", field="transfers")
                prepared[index] = self._prepare_transfer(
                    body, idempotency_key=str(body.get("payout_id", ""))
                )
                results.append({})
            except BankRefusal as refused:
                results.append({"status": refused.status, **refused.body()})
        created_any = False
        with self.db.write() as connection:
            for index, transfer in prepared.items():
                try:
                    answer, created = self._store_transfer(connection, transfer)
                except BankRefusal as refused:
                    results[index] = {"status": refused.status, **refused.body()}
                    continue
                results[index] = {"status": 201 if created else 200, "transfer": answer}
                created_any = created_any or created
        if created_any:
            self._on_change()
        return results

    def _prepare_transfer(
        self, body: Mapping[str, Any], *, idempotency_key: str
    ) -> _PreparedTransfer:
        """A transfer request checked field by field (BadRequest names the first wrong one)."""
        _refuse_unknown_fields(body, _TRANSFER_FIELDS)
        payout_id = validation.transfer_id(body.get("payout_id", idempotency_key))
        if payout_id != idempotency_key:
            raise BadRequest(
                "The Idempotency-Key header must be the payout id.",
                code="idempotency_key_mismatch",
                field="Idempotency-Key",
            )
        fields = {
            "payout_id": payout_id,
            "amount_minor": validation.amount(body.get("amount_minor")),
            "currency": validation.currency(body.get("currency")),
            "creditor_name": validation.text(
                body.get("creditor_name"),
                field="creditor_name",
                max_chars=validation.MAX_NAME_CHARS,
            ),
            "creditor_bic": validation.bic(body.get("creditor_bic"), field="creditor_bic"),
            "remittance": validation.text(
                body.get("remittance"),
                field="remittance",
                max_chars=validation.MAX_REMITTANCE_CHARS,
                required=False,
            ),
        }
        iban, routing, number = account_identity(body, prefix="creditor_")
        fields["creditor_iban"] = iban or ""
        if not iban:  # (an IBAN transfer's fields, and so its request hash, stay as they were)
            fields["creditor_routing_number"] = routing
            fields["creditor_account_number"] = number
        return _PreparedTransfer(fields, routing, number, _request_hash(fields))

    def _store_transfer(
        self, connection: sqlite3.Connection, prepared: _PreparedTransfer
    ) -> tuple[dict[str, Any], bool]:
        """The transfer accepted now, or the one this payout id already names (the same
        request: answered as it is now; another: Conflict)."""
        fields, payout_id = prepared.fields, prepared.fields["payout_id"]
        existing = connection.execute(
            "SELECT * FROM transfers WHERE payout_id = ?", (payout_id,)
        ).fetchone()
        if existing is not None:
            if existing["request_hash"] != prepared.request_hash:
                raise Conflict(
                    "This payout id was already used for a different transfer.",
                    code="idempotency_key_reused",
                    field="Idempotency-Key",
                )
            return transfer_json(existing), False
        debtor = self.platform_account(connection, fields["currency"])
        now = utc_now()
        connection.execute(
            "INSERT INTO transfers (payout_id, bank_reference, request_hash, amount_minor,"
            " currency, creditor_name, creditor_iban, creditor_routing_number,"
            " creditor_account_number, creditor_bic, remittance, debtor_account_id, status,"
            " accepted_at, settle_due)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'accepted', ?, ?)",
            (
                payout_id,
                _new_reference("SBT"),
                prepared.request_hash,
                fields["amount_minor"],
                fields["currency"],
                fields["creditor_name"],
                fields["creditor_iban"],
                prepared.routing_number,
                prepared.account_number,
                fields["creditor_bic"],
                fields["remittance"],
                debtor["id"],
                iso(now),
                now.timestamp() + self.faults.knobs.settle_delay_ms / 1000,
            ),
        )
        row = connection.execute(
            "SELECT * FROM transfers WHERE payout_id = ?", (payout_id,)
        ).fetchone()
        return transfer_json(row), True

    def transfer(self, payout_id: str) -> dict[str, Any] | None:
        row = (
            self.db.connection()
            .execute("SELECT * FROM transfers WHERE payout_id = ?", (payout_id,))
            .fetchone()
        )
        return None if row is None else transfer_json(row)

    def list_transfers(
        self, *, status: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Transfers in payout-id order, `limit` at a time from after `after` (keyset paging)."""
        limit = max(1, min(limit, MAX_LIST_LIMIT))
        clauses, params = [], []
        if status:
            clauses.append("status = ?")
            params.append(status)
        if after:
            clauses.append("payout_id > ?")
            params.append(after)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = (
            self.db.connection()
            .execute(f"SELECT * FROM transfers{where} ORDER BY payout_id LIMIT ?", (*params, limit))  # noqa: S608 - fixed clauses, values bound
            .fetchall()
        )
        return [transfer_json(row) for row in rows]

    # --- clearing (the background thread calls these) ------------------------------------------

    def next_due(self) -> float | None:
        row = (
            self.db.connection()
            .execute(
                "SELECT MIN(due) FROM (SELECT MIN(settle_due) AS due FROM transfers"
                " UNION ALL SELECT MIN(return_due) FROM transfers)"
            )
            .fetchone()
        )
        return row[0]

    def settle_due(self, now: float | None = None) -> int:
        """Settle or reject accepted transfers whose time has come; how many."""
        now = time.time() if now is None else now
        with self.db.write() as connection:
            rows = connection.execute(
                "SELECT * FROM transfers WHERE settle_due IS NOT NULL AND settle_due <= ?"
                " ORDER BY settle_due LIMIT ?",
                (now, CLEARING_BATCH),
            ).fetchall()
            for row in rows:
                self._settle(connection, row)
        if rows:
            self._on_change()
        return len(rows)

    def _settle(self, connection: sqlite3.Connection, transfer: sqlite3.Row) -> None:
        assert transfer["status"] == "accepted", transfer["status"]
        creditor = _find_account(
            connection,
            transfer["creditor_iban"] or None,
            transfer["creditor_routing_number"],
            transfer["creditor_account_number"],
            customer_only=True,
        )
        failure = None
        if creditor is None:
            failure = INVALID_ACCOUNT
        elif creditor["status"] == "closed":
            failure = CLOSED_ACCOUNT
        elif creditor["currency"] != transfer["currency"]:
            failure = CURRENCY_MISMATCH
        elif not validation.names_match(transfer["creditor_name"], creditor["holder_name"]):
            failure = NAME_MISMATCH
        now = utc_now()
        if failure is not None:
            code, reason, message = failure
            connection.execute(
                "UPDATE transfers SET status = 'rejected', failure_code = ?, reason_code = ?,"
                " failure_message = ?, settled_at = ?, settle_due = NULL"
                " WHERE payout_id = ? AND status = 'accepted'",
                (code, reason, message, iso(now), transfer["payout_id"]),
            )
            self._tell(connection, "transfer.rejected", transfer["payout_id"])
            return
        debtor = connection.execute(
            "SELECT * FROM accounts WHERE id = ?", (transfer["debtor_account_id"],)
        ).fetchone()
        amount = transfer["amount_minor"]
        common = {
            "end_to_end_id": transfer["payout_id"],
            "bank_reference": transfer["bank_reference"],
            "remittance": transfer["remittance"],
        }
        self._book(
            connection,
            debtor,
            -amount,
            kind="transfer",
            counterparty=creditor,
            at=now,
            **common,
        )
        self._book(
            connection,
            creditor,
            amount,
            kind="transfer",
            counterparty=debtor,
            at=now,
            **common,
        )
        knobs = self.faults.knobs
        will_return = bool(creditor["returns_credits"]) or self.faults.chance(
            knobs.return_after_paid_rate
        )
        connection.execute(
            "UPDATE transfers SET status = 'paid', creditor_account_id = ?, settled_at = ?,"
            " settle_due = NULL, return_due = ? WHERE payout_id = ? AND status = 'accepted'",
            (
                creditor["id"],
                iso(now),
                now.timestamp() + knobs.return_delay_ms / 1000 if will_return else None,
                transfer["payout_id"],
            ),
        )
        self._tell(connection, "transfer.paid", transfer["payout_id"])

    def return_due(self, now: float | None = None) -> int:
        """Send back paid transfers marked for a return whose time has come; how many."""
        now = time.time() if now is None else now
        with self.db.write() as connection:
            rows = connection.execute(
                "SELECT * FROM transfers WHERE return_due IS NOT NULL AND return_due <= ?"
                " ORDER BY return_due LIMIT ?",
                (now, CLEARING_BATCH),
            ).fetchall()
            for row in rows:
                self._return(connection, row)
        if rows:
            self._on_change()
        return len(rows)

    def _return(self, connection: sqlite3.Connection, transfer: sqlite3.Row) -> None:
        assert transfer["status"] == "paid", transfer["status"]
        debtor = connection.execute(
            "SELECT * FROM accounts WHERE id = ?", (transfer["debtor_account_id"],)
        ).fetchone()
        creditor = connection.execute(
            "SELECT * FROM accounts WHERE id = ?", (transfer["creditor_account_id"],)
        ).fetchone()
        code, reason, message = RETURNED
        now = utc_now()
        common = {
            "kind": "return",
            "end_to_end_id": transfer["payout_id"],
            "bank_reference": transfer["bank_reference"],
            "remittance": transfer["remittance"],
            "reason_code": reason,
            "at": now,
        }
        amount = transfer["amount_minor"]
        self._book(connection, creditor, -amount, counterparty=debtor, **common)
        self._book(connection, debtor, amount, counterparty=creditor, **common)
        connection.execute(
            "UPDATE transfers SET status = 'returned', failure_code = ?, reason_code = ?,"
            " failure_message = ?, returned_at = ?, return_due = NULL"
            " WHERE payout_id = ? AND status = 'paid'",
            (code, reason, message, iso(now), transfer["payout_id"]),
        )
        self._tell(connection, "transfer.returned", transfer["payout_id"])

    def _tell(self, connection: sqlite3.Connection, event_type: str, payout_id: str) -> None:
        row = connection.execute(
            "SELECT * FROM transfers WHERE payout_id = ?", (payout_id,)
        ).fetchone()
        callbacks.enqueue(connection, self.faults, event_type=event_type, data=transfer_json(row))

    def _book(
        self,
        connection: sqlite3.Connection,
        account: sqlite3.Row,
        amount_minor: int,
        *,
        kind: str,
        counterparty: sqlite3.Row | Mapping[str, str],
        end_to_end_id: str,
        bank_reference: str,
        remittance: str,
        at: dt.datetime,
        creditor_reference: str = "",
        reason_code: str = "",
    ) -> None:
        connection.execute(
            "INSERT INTO bookings (account_id, amount_minor, kind, end_to_end_id, bank_reference,"
            " counterparty_name, counterparty_iban, counterparty_account, remittance,"
            " creditor_reference, reason_code, booked_at, booked_on)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                account["id"],
                amount_minor,
                kind,
                end_to_end_id,
                bank_reference,
                counterparty["holder_name"],
                counterparty["iban"] or "",
                counterparty["account_number"] if "account_number" in counterparty.keys() else "",  # noqa: SIM118 - a sqlite3.Row has keys(), not `in`
                remittance,
                creditor_reference,
                reason_code,
                iso(at),
                at.astimezone(dt.UTC).date().isoformat(),
            ),
        )
        connection.execute(
            "UPDATE accounts SET balance_minor = balance_minor + ? WHERE id = ?",
            (amount_minor, account["id"]),
        )

    # --- incoming credits -----------------------------------------------------------------------

    def receive_incoming(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """A buyer's transfer reaches the platform's account: book it and tell the platform."""
        _refuse_unknown_fields(body, _INCOMING_FIELDS)
        fields = {
            "reference": validation.rf_reference(body.get("reference")),
            "amount_minor": validation.amount(body.get("amount_minor")),
            "currency": validation.currency(body.get("currency")),
            "debtor_name": validation.text(
                body.get("debtor_name"), field="debtor_name", max_chars=validation.MAX_NAME_CHARS
            ),
            "debtor_iban": validation.iban(body["debtor_iban"], field="debtor_iban")
            if body.get("debtor_iban")
            else "",
            "end_to_end_id": validation.transfer_id(
                body.get("end_to_end_id", "NOTPROVIDED"), field="end_to_end_id"
            ),
        }
        bank_reference = (
            validation.transfer_id(idempotency_key, field="Idempotency-Key")
            if idempotency_key
            else _new_reference("SBI")
        )
        request_hash = _request_hash(fields)
        with self.db.write() as connection:
            platform = self.platform_account(connection, fields["currency"])
            existing = connection.execute(
                "SELECT * FROM incoming WHERE bank_reference = ?", (bank_reference,)
            ).fetchone()
            if existing is not None:
                if existing["request_hash"] != request_hash:
                    raise Conflict(
                        "This key was already used for a different incoming transfer.",
                        code="idempotency_key_reused",
                        field="Idempotency-Key",
                    )
                return incoming_json(existing, platform["iban"]), False
            now = utc_now()
            connection.execute(
                "INSERT INTO incoming (bank_reference, request_hash, reference, amount_minor,"
                " currency, debtor_name, debtor_iban, account_id, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bank_reference,
                    request_hash,
                    fields["reference"],
                    fields["amount_minor"],
                    fields["currency"],
                    fields["debtor_name"],
                    fields["debtor_iban"],
                    platform["id"],
                    iso(now),
                ),
            )
            self._book(
                connection,
                platform,
                fields["amount_minor"],
                kind="incoming",
                counterparty={"holder_name": fields["debtor_name"], "iban": fields["debtor_iban"]},
                end_to_end_id=fields["end_to_end_id"],
                bank_reference=bank_reference,
                remittance="",
                creditor_reference=fields["reference"],
                at=now,
            )
            row = connection.execute(
                "SELECT * FROM incoming WHERE bank_reference = ?", (bank_reference,)
            ).fetchone()
            data = incoming_json(row, platform["iban"])
            callbacks.enqueue(
                connection, self.faults, event_type=callbacks.INCOMING_EVENT, data=data
            )
        self._on_change()
        return data, True

    # --- statements -----------------------------------------------------------------------------

    def statement_accounts(self, day: dt.date) -> list[StatementAccount]:
        """Each platform account's opening balance for `day` and that day's bookings, read in one
        snapshot."""
        accounts = []
        with self.db.read() as connection:
            for account in connection.execute(
                "SELECT * FROM accounts WHERE is_platform = 1 ORDER BY currency"
            ).fetchall():
                before = connection.execute(
                    "SELECT COALESCE(SUM(amount_minor), 0) FROM bookings"
                    " WHERE account_id = ? AND booked_on < ?",
                    (account["id"], day.isoformat()),
                ).fetchone()[0]
                bookings = connection.execute(
                    "SELECT * FROM bookings WHERE account_id = ? AND booked_on = ? ORDER BY id",
                    (account["id"], day.isoformat()),
                ).fetchall()
                accounts.append(
                    StatementAccount(account, account["opening_balance_minor"] + before, bookings)
                )
        return accounts


def _new_reference(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:20].upper()}"


def _bic_for(iban: str) -> str:
    """The BIC schwifty knows for the IBAN's bank, or '' (a sandbox account needs none)."""
    try:
        found = IBAN(iban).bic
    except ValueError:
        return ""
    return str(found.compact) if found else ""
