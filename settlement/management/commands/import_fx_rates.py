"""manage.py import_fx_rates FILE: record the FX rates of a CSV file, all or nothing.

    base,quote,rate,as_of,source
    EUR,USD,1.0850,2026-12-07T16:00:00+01:00,ecb
    USD,JPY,150.25,2026-12-07T16:00:00+01:00,

The source column is optional; an empty source is recorded as "csv:<file name>". Any bad line
refuses the whole file (exit status 1, one message per line); a re-import records nothing twice.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from settlement.fx_rates import RateImportError, import_rates_csv

MAX_FILE_BYTES = 20 * 1024 * 1024


class Command(BaseCommand):
    help = (
        "Import FX rates from a CSV file with the header base,quote,rate,as_of[,source] "
        "(1 base = rate quote; as_of in ISO 8601 with its UTC offset). All or nothing; "
        "idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the CSV file")

    def handle(self, *args, file: str, **options):
        path = Path(file)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise CommandError(f"{path.name}: larger than {MAX_FILE_BYTES} bytes")
            text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's BOM is not a column
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path.name}: not UTF-8 text") from None
        try:
            result = import_rates_csv(text, source=f"csv:{path.name}")
        except RateImportError as refused:
            raise CommandError(
                f"{path.name}: nothing imported:\n" + "\n".join(refused.errors)
            ) from None
        self.stdout.write(
            f"{path.name}: {result.created} rate(s) imported, "
            f"{result.already_recorded} already recorded"
        )
