"""Import a statement file: read it whole first (formats.py: a bad file is refused before any row
is written), then write the file, its statements and their lines in one transaction.

Re-importing changes nothing and says so: the same bytes (the file's SHA-256 is unique), or a
statement already imported from another file (account + statement id is unique) are skipped. A
statement already imported whose content differs (the bank re-sent it changed) is refused whole,
the file with it, naming the first difference (StatementConflict): staff decide, the importer
never overwrites what matching may already have used. Lines go in by COPY: a day of a busy
account is 100,000 lines."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction

from settlement.iso20022.errors import InvalidStatement
from settlement.iso20022.statements import Statement
from settlement.reconciliation.formats import read_statements
from settlement.reconciliation.models import (
    BankStatement,
    StatementFile,
    StatementLine,
    WorkItem,
    WorkKind,
    WorkStatus,
)

ANALYZE_AFTER_LINES = 10_000
_LINE_COLUMNS = (
    "statement_id",
    "position",
    "amount_minor",
    "currency",
    "status",
    "booking_date",
    "value_date",
    "reversal",
    "end_to_end_id",
    "creditor_reference",
    "bank_reference",
    "entry_reference",
    "counterparty_name",
    "counterparty_iban",
    "remittance",
    "return_reason",
    "state",
)


class StatementConflict(InvalidStatement):
    """A statement already imported came again with other content: nothing was imported."""

    def __init__(self, stored: BankStatement, difference: str) -> None:
        super().__init__(
            f"statement {stored.statement_id} of {stored.account_iban} was imported on "
            f"{stored.created_at:%Y-%m-%d} with other content ({difference}): nothing imported; "
            "if the bank corrected it, resolve the difference by hand",
            code="statement_conflict",
            field="file",
        )
        self.stored = stored
        self.difference = difference


@dataclass
class ImportResult:
    format: str = ""
    statements: list[int] = field(default_factory=list)
    lines: int = 0
    skipped: list[str] = field(default_factory=list)
    already_imported: bool = False

    @property
    def message(self) -> str:
        if self.already_imported:
            return "This file was already imported: nothing changed."
        if not self.statements:
            return (
                f"Every statement in this file was already imported ({', '.join(self.skipped)}):"
                " nothing changed."
            )
        text = f"Imported {len(self.statements)} statement(s) with {self.lines} line(s)."
        if self.skipped:
            text += f" Skipped, already imported: {', '.join(self.skipped)}."
        return text


def import_statement_file(
    data: bytes, *, filename: str, actor: str, fmt: str = "auto"
) -> ImportResult:
    """Import the statements of a camt.053, MT940 or CSV file. InvalidStatement (nothing
    written) if the file is not one; an ImportResult saying what was new otherwise."""
    sha256 = hashlib.sha256(data).hexdigest()
    if StatementFile.objects.filter(sha256=sha256).exists():
        return ImportResult(already_imported=True)
    fmt, statements = read_statements(data, filename=filename, fmt=fmt)
    result = ImportResult(format=fmt)
    try:
        with transaction.atomic():
            known = _known(statements)
            for statement in statements:
                stored = known.get((statement.account_iban, statement.statement_id))
                if stored is not None and (difference := _difference(stored, statement)):
                    raise StatementConflict(stored, difference)
            new = [s for s in statements if (s.account_iban, s.statement_id) not in known]
            result.skipped = [
                s.statement_id for s in statements if (s.account_iban, s.statement_id) in known
            ]
            if not new:
                return result
            file = StatementFile.objects.create(
                sha256=sha256,
                filename=filename[:255],
                format=fmt,
                size_bytes=len(data),
                imported_by=actor,
            )
            for statement in new:
                result.statements.append(_write(file, statement))
                result.lines += len(statement.entries)
            if result.lines >= ANALYZE_AFTER_LINES:
                # Fresh statistics before matching: the planner would otherwise take a big
                # import for an empty table and join it row by row.
                with connection.cursor() as cursor:
                    cursor.execute(f"ANALYZE {StatementLine._meta.db_table}")
    except IntegrityError:
        # The same file or statement imported at the same moment: the other import stands.
        return ImportResult(already_imported=True)
    return result


def queue_conflict(conflict: StatementConflict) -> WorkItem:
    """The conflict as a work item on the statement imported first: one open item however often
    the statement comes again (an unattended fetch retries daily)."""
    item, _ = WorkItem.objects.get_or_create(
        kind=WorkKind.STATEMENT_CONFLICT,
        statement=conflict.stored,
        status=WorkStatus.OPEN,
        defaults={"currency": conflict.stored.currency, "summary": str(conflict)[:255]},
    )
    return item


def _known(statements: tuple[Statement, ...]) -> dict[tuple[str, str], BankStatement]:
    ibans = {s.account_iban for s in statements}
    ids = {s.statement_id for s in statements}
    return {
        (row.account_iban, row.statement_id): row
        for row in BankStatement.objects.filter(account_iban__in=ibans, statement_id__in=ids)
    }


def _difference(stored: BankStatement, statement: Statement) -> str:
    """What differs between a statement as imported and the same statement read again ("" if
    nothing): its balances and day, then its lines as they would be written, the first
    difference named. Read only when a statement comes again: the first import pays nothing."""
    header = {
        "currency": (stored.currency, statement.currency),
        "day": (stored.statement_date, statement.closing_balance.date),
        "opening balance": (stored.opening_minor, statement.opening_balance.amount_minor),
        "closing balance": (stored.closing_minor, statement.closing_balance.amount_minor),
        "lines": (stored.line_count, len(statement.entries)),
    }
    for name, (before, now) in header.items():
        if before != now:
            return f"{name} {before}, now {now}"
    columns = _LINE_COLUMNS[1:-1]  # the bank's values: not the statement row, not the state
    stored_rows = (
        StatementLine.objects.filter(statement=stored)
        .order_by("position")
        .values_list(*columns)
        .iterator(chunk_size=5_000)
    )
    for before, now in zip(stored_rows, _line_values(statement), strict=True):
        now = now[:-1]
        if before != now:
            name, was, is_now = next(
                (column, a, b) for column, a, b in zip(columns, before, now, strict=True) if a != b
            )
            if name == "counterparty_iban":  # account numbers stay out of messages and logs
                return f"line {now[0]}: counterparty_iban changed"
            return f"line {now[0]}: {name} {was!r}, now {is_now!r}"
    return ""


def _line_values(statement: Statement) -> Iterator[tuple]:
    """Each entry as its line is written: _LINE_COLUMNS but the statement."""
    for position, entry in enumerate(statement.entries, start=1):
        yield (
            position,
            entry.signed_amount_minor,
            entry.currency,
            entry.status[:8],
            entry.booking_date,
            entry.value_date,
            entry.reversal,
            entry.end_to_end_id[:64],
            entry.creditor_reference.replace(" ", "").upper()[:64],
            entry.bank_reference[:64],
            entry.entry_reference[:64],
            entry.counterparty_name[:140],
            entry.counterparty_iban[:34],
            entry.remittance[:500],
            entry.return_reason[:16],
            "unmatched",
        )


def _write(file: StatementFile, statement: Statement) -> int:
    row = BankStatement.objects.create(
        file=file,
        account_iban=statement.account_iban,
        currency=statement.currency,
        statement_id=statement.statement_id[:64],
        message_id=statement.message_id[:64],
        statement_date=statement.closing_balance.date,
        opening_minor=statement.opening_balance.amount_minor,
        closing_minor=statement.closing_balance.amount_minor,
        line_count=len(statement.entries),
    )
    columns = ", ".join(_LINE_COLUMNS)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {StatementLine._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        copy.set_types(
            ["int8", "int4", "int8", "text", "text", "date", "date", "bool"] + ["text"] * 9
        )
        statement_pk = (row.pk,)
        for values in _line_values(statement):
            copy.write_row(statement_pk + values)
    return row.pk
