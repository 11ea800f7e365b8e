"""CSV exports of a seller's settlement lines: one batch, or every batch of a date range. Streamed
row by row from a server-side cursor (settlement.batches.iter_lines_of_batches), batch after batch, so
memory stays constant however many lines. One row per line; for each batch its lines' amounts sum
to its net (the batch's own columns repeat on each line, for a spreadsheet's filters).

Amounts: `amount_minor` is the exact integer; `amount` the same in major units as a plain decimal
("-12.50", "1000" for JPY), never a float and never localised (a spreadsheet reads it anywhere).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence

from django.db import transaction

from core.money import Money
from settlement.api import LINE_KINDS
from settlement.batches import BatchLine, iter_lines_of_batches
from settlement.models import SettlementBatch

HEADER = (
    "batch",
    "period_start",
    "period_end",
    "currency",
    "batch_net_minor",
    "log_index",
    "transfer",
    "created_at",
    "kind",
    "order",
    "sub_order",
    "reference",
    "amount_minor",
    "amount",
)
# A cell a spreadsheet would run as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """csv.writer's file: hands each formatted row back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def _text(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _row(batch: SettlementBatch, line: BatchLine) -> tuple:
    return (
        batch.pk,
        batch.period_start.isoformat() if batch.period_start else "",
        batch.period_end.isoformat(),
        batch.currency,
        batch.net_minor,
        line.log_index,
        line.transfer_id,
        line.created_at.isoformat(),
        LINE_KINDS.get(line.reason, line.reason),
        _text(line.metadata.get("order")),
        _text(line.metadata.get("sub_order")),
        _text(line.reference),
        line.amount_minor,
        Money(line.amount_minor, batch.currency).to_decimal(),
    )


def csv_lines(batches: Sequence[SettlementBatch]) -> Iterator[str]:
    """The CSV text, one row at a time: the header, then each batch's lines in log order. The
    lines are read in one transaction, so the query streams as the rows are sent; it ends with
    the download, or when the client goes away (the response then closes this generator)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(HEADER)
    by_id = {batch.pk: batch for batch in batches}
    with transaction.atomic():
        for batch_id, line in iter_lines_of_batches(batches):
            yield writer.writerow(_row(by_id[batch_id], line))
