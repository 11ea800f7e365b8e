"""Import a statement file: read it whole first (formats.py: a bad file is refused before any row
is written), then write the file, its statements and their lines in one transaction.

Re-importing changes nothing and says so: the same bytes (the file's SHA-256 is unique), or a
statement already imported from another file (account + statement id is unique) are skipped.
Lines go in by COPY: a day of a busy account is 100,000 lines."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction

from settlement.iso20022.statements import Statement
from settlement.reconciliation.formats import read_statements
from settlement.reconciliation.models import BankStatement, StatementFile, StatementLine

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


def _known(statements: tuple[Statement, ...]) -> set[tuple[str, str]]:
    ibans = {s.account_iban for s in statements}
    ids = {s.statement_id for s in statements}
    return set(
        BankStatement.objects.filter(account_iban__in=ibans, statement_id__in=ids).values_list(
            "account_iban", "statement_id"
        )
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
        for position, entry in enumerate(statement.entries, start=1):
            copy.write_row(
                (
                    row.pk,
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
            )
    return row.pk
