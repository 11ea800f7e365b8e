"""manage.py import_statement FILE [--format auto|camt053|mt940|csv] [--no-match]: import a bank
statement file and match it (settlement/reconciliation/). A file or statement already imported
changes nothing, and the command says so; a file that is not a statement is refused, nothing
written, with the reason and where (exit status 1)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from settlement.reconciliation.formats import FORMATS
from settlement.reconciliation.imports import import_statement_file
from settlement.reconciliation.matching import run_matching


class Command(BaseCommand):
    help = "Import a camt.053, MT940 or CSV bank statement and match its lines."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--format", default="auto", choices=("auto", *FORMATS))
        parser.add_argument("--no-match", action="store_true", help="import only")

    def handle(self, *args, file: str, format: str = "auto", no_match: bool = False, **options):
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        try:
            result = import_statement_file(data, filename=path.name, actor="command", fmt=format)
        except ApplicationError as error:
            where = f" (at {error.field})" if error.field else ""
            raise CommandError(f"refused, nothing imported: {error.message}{where}") from None
        self.stdout.write(result.message)
        if not no_match:
            matched = run_matching()
            self.stdout.write(
                f"Matched {matched.matched} line(s); {matched.unmatched} unmatched; "
                f"{matched.work_items_opened} work item(s) opened."
            )
