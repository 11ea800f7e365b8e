"""Bank statement files in, read into settlement.iso20022.statements values, whatever the format:

    camt053   ISO 20022 camt.053 .02-.08 (settlement/iso20022/camt053.py: DTDs, entities,
              oversized files and deep nesting refused unread)
    mt940     SWIFT MT940 (the `mt-940` package), one statement per file; the end-to-end id from
              the SEPA `EREF+` of :86: (else :61:'s customer reference), an RF reference from :86:
    csv       the layout in docs/reconciliation.md: `record` opening | entry | closing

Every amount goes through iso20022.amounts.parse_amount (exact: more decimals than the currency
has is refused, never rounded), and every statement must add up (opening + booked = closing).
Nothing here touches the database: a file that fails is refused before any row is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

from settlement.iso20022.amounts import AmountError, parse_amount
from settlement.iso20022.camt053 import MAX_STATEMENT_BYTES, parse_statements
from settlement.iso20022.errors import InvalidStatement
from settlement.iso20022.statements import BOOKED, Balance, Entry, Statement

FORMATS = ("camt053", "mt940", "csv")
CSV_COLUMNS = (
    "record",
    "account_iban",
    "currency",
    "statement_id",
    "date",
    "amount",
    "credit_debit",
    "end_to_end_id",
    "creditor_reference",
    "bank_reference",
    "counterparty_name",
    "counterparty_iban",
    "remittance",
)
MAX_CSV_ROWS = 1_000_000
_RF = re.compile(r"\bRF[0-9]{2}[A-Z0-9]{1,21}\b")
_EREF = re.compile(r"EREF\+(\S+)")


def detect_format(data: bytes, filename: str = "") -> str:
    """The format by the file's name, else by its first bytes."""
    name = filename.lower()
    if name.endswith(".xml"):
        return "camt053"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".sta", ".mt940", ".940")):
        return "mt940"
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "camt053"
    if head.startswith((b":20:", b"{1:", b":940:")):
        return "mt940"
    return "csv"


def read_statements(data: bytes, *, filename: str = "", fmt: str = "auto") -> tuple[str, tuple]:
    """(format, statements) of a file; InvalidStatement with a code and a field if it is not one
    this platform reads."""
    if len(data) > MAX_STATEMENT_BYTES:
        raise InvalidStatement(
            f"the file is {len(data)} bytes; at most {MAX_STATEMENT_BYTES} are read",
            code="too_large",
            field="file",
        )
    if not data.strip():
        raise InvalidStatement("the file is empty", code="empty_file", field="file")
    fmt = detect_format(data, filename) if fmt == "auto" else fmt
    if fmt == "camt053":
        return fmt, parse_statements(data)
    if fmt == "mt940":
        return fmt, (parse_mt940(data),)
    if fmt == "csv":
        return fmt, parse_csv(data)
    raise InvalidStatement(f"unknown format {fmt!r}", code="unknown_format", field="format")


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidStatement(
            "the file is not UTF-8 text", code="not_text", field="file"
        ) from None


def _minor(text: str, currency: str, where: str) -> int:
    try:
        return parse_amount(text, currency)
    except AmountError as error:
        raise InvalidStatement(f"{where}: {error}", code="invalid_amount", field=where) from None


def _check_adds_up(opening: Balance, closing: Balance, entries: list[Entry], where: str) -> None:
    booked = sum(entry.signed_amount_minor for entry in entries if entry.status == BOOKED)
    if opening.amount_minor + booked != closing.amount_minor:
        raise InvalidStatement(
            f"opening {opening.amount_minor} + booked entries {booked} != closing "
            f"{closing.amount_minor} ({opening.currency} minor units): truncated or inconsistent",
            code="unbalanced_statement",
            field=where,
        )


# --- MT940 -------------------------------------------------------------------------------------


def _decimal_text(value: Decimal) -> str:
    return format(abs(value), "f")


def parse_mt940(data: bytes) -> Statement:
    import mt940  # the package's import registers its tag processors: only when needed

    text = _text(data)
    if len(re.findall(r"^:20:", text, flags=re.MULTILINE)) != 1:
        raise InvalidStatement(
            "an MT940 file holds exactly one statement (one :20: field)",
            code="not_mt940",
            field="file",
        )
    transactions = mt940.models.Transactions()
    try:
        transactions.parse(text)
    except Exception as error:  # the package raises bare exceptions of many kinds
        raise InvalidStatement(f"not MT940: {error}", code="not_mt940", field="file") from None
    head = transactions.data
    account = (head.get("account_identification") or "").replace(" ", "")
    opening_raw = head.get("final_opening_balance") or head.get("intermediate_opening_balance")
    closing_raw = head.get("final_closing_balance") or head.get("intermediate_closing_balance")
    if not account or opening_raw is None or closing_raw is None:
        raise InvalidStatement(
            "an MT940 statement needs :25:, :60F: and :62F:", code="not_mt940", field="file"
        )
    currency = opening_raw.amount.currency

    def balance(raw, where: str) -> Balance:
        amount = _minor(_decimal_text(raw.amount.amount), raw.amount.currency, where)
        sign = -1 if raw.amount.amount < 0 else 1
        return Balance(sign * amount, raw.amount.currency, dt.date(*raw.date.timetuple()[:3]))

    opening, closing = balance(opening_raw, ":60F:"), balance(closing_raw, ":62F:")
    entries: list[Entry] = []
    for index, transaction in enumerate(transactions, start=1):
        row = transaction.data
        where = f":61:[{index}]"
        amount = _minor(_decimal_text(row["amount"].amount), currency, where)
        status = row.get("status") or ""
        details = " ".join((row.get("transaction_details") or "").split())
        eref = _EREF.search(details)
        customer = row.get("customer_reference") or ""
        rf = _RF.search(details.replace(" ", "")) or _RF.search(details)
        entries.append(
            Entry(
                amount_minor=amount,
                currency=currency,
                credit_debit="CRDT" if status.endswith("C") else "DBIT",
                status=BOOKED,
                booking_date=_date(row.get("entry_date")),
                value_date=_date(row.get("date")),
                end_to_end_id=eref.group(1) if eref else ("" if customer == "NONREF" else customer),
                bank_reference=row.get("bank_reference") or "",
                remittance=details[:500],
                counterparty_name="",
                counterparty_iban="",
                reversal=status.startswith("R"),
                creditor_reference=rf.group(0) if rf else "",
            )
        )
    _check_adds_up(opening, closing, entries, "file")
    reference = head.get("transaction_reference") or ""
    number = f"{head.get('statement_number') or ''}/{head.get('sequence_number') or ''}"
    return Statement(
        message_id=reference,
        statement_id=f"{reference}:{number}:{closing.date.isoformat()}"[:64],
        version="mt940",
        account_iban=account,
        currency=currency,
        created_at=dt.datetime.combine(closing.date, dt.time(), tzinfo=dt.UTC),
        opening_balance=opening,
        closing_balance=closing,
        entries=tuple(entries),
    )


def _date(value) -> dt.date | None:
    return dt.date(value.year, value.month, value.day) if value else None


# --- CSV ---------------------------------------------------------------------------------------


def parse_csv(data: bytes) -> tuple[Statement, ...]:
    reader = csv.reader(io.StringIO(_text(data), newline=""))
    header = next(reader, None)
    if header is None or tuple(column.strip() for column in header) != CSV_COLUMNS:
        raise InvalidStatement(
            f"the columns must be exactly: {','.join(CSV_COLUMNS)} (docs/reconciliation.md)",
            code="wrong_columns",
            field="header",
        )
    statements: dict[tuple[str, str], dict] = {}
    for number, row in enumerate(reader, start=2):
        where = f"row {number}"
        if number > MAX_CSV_ROWS:
            raise InvalidStatement("too many rows", code="too_large", field=where)
        if not row:
            continue
        if len(row) != len(CSV_COLUMNS):
            raise InvalidStatement(
                f"{where}: {len(row)} columns, expected {len(CSV_COLUMNS)}",
                code="wrong_columns",
                field=where,
            )
        record = dict(zip(CSV_COLUMNS, (value.strip() for value in row), strict=True))
        key = (record["account_iban"].replace(" ", ""), record["statement_id"])
        if not all(key) or not record["currency"]:
            raise InvalidStatement(
                f"{where}: account_iban, statement_id and currency are required",
                code="missing_value",
                field=where,
            )
        found = statements.setdefault(
            key, {"currency": record["currency"], "entries": [], "opening": None, "closing": None}
        )
        if record["currency"] != found["currency"]:
            raise InvalidStatement(
                f"{where}: one statement, one currency", code="currency_mismatch", field=where
            )
        _csv_row(record, found, where)
    if not statements:
        raise InvalidStatement("the file holds no statement", code="missing_value", field="file")
    result = []
    for (iban, statement_id), found in statements.items():
        if found["opening"] is None or found["closing"] is None:
            raise InvalidStatement(
                f"statement {statement_id}: an opening and a closing row are required",
                code="missing_balance",
                field=statement_id,
            )
        _check_adds_up(found["opening"], found["closing"], found["entries"], statement_id)
        result.append(
            Statement(
                message_id="",
                statement_id=statement_id,
                version="csv",
                account_iban=iban,
                currency=found["currency"],
                created_at=dt.datetime.combine(found["closing"].date, dt.time(), tzinfo=dt.UTC),
                opening_balance=found["opening"],
                closing_balance=found["closing"],
                entries=tuple(found["entries"]),
            )
        )
    return tuple(result)


def _csv_row(record: dict[str, str], found: dict, where: str) -> None:
    currency = found["currency"]
    try:
        day = dt.date.fromisoformat(record["date"])
    except ValueError:
        raise InvalidStatement(
            f"{where}: date {record['date']!r} is not YYYY-MM-DD", code="invalid_date", field=where
        ) from None
    if record["credit_debit"] not in ("CRDT", "DBIT"):
        raise InvalidStatement(
            f"{where}: credit_debit is CRDT or DBIT", code="invalid_direction", field=where
        )
    amount = _minor(record["amount"], currency, where)
    sign = 1 if record["credit_debit"] == "CRDT" else -1
    kind = record["record"]
    if kind in ("opening", "closing"):
        if found[kind] is not None:
            raise InvalidStatement(f"{where}: a second {kind} row", code="duplicate", field=where)
        found[kind] = Balance(sign * amount, currency, day)
        return
    if kind != "entry":
        raise InvalidStatement(
            f"{where}: record is opening, entry or closing", code="invalid_record", field=where
        )
    found["entries"].append(
        Entry(
            amount_minor=amount,
            currency=currency,
            credit_debit=record["credit_debit"],
            status=BOOKED,
            booking_date=day,
            value_date=day,
            end_to_end_id=record["end_to_end_id"],
            bank_reference=record["bank_reference"],
            remittance=record["remittance"][:500],
            counterparty_name=record["counterparty_name"][:140],
            counterparty_iban=record["counterparty_iban"].replace(" ", ""),
            creditor_reference=record["creditor_reference"].replace(" ", ""),
        )
    )
