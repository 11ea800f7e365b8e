"""Settlement batches: what each seller is owed, per currency, for a period of the ledger's log.

A batch covers the posted transfers on `seller:<id>:available` whose log index lies in
[log_from, log_to): matured sales, reserve releases, refunds and disputes taken after release,
adjustments; payouts' own transfers (reason "payout_*") are left out, as they pay batches. Its
net is credits minus debits, exactly the sum of those lines. A seller's consecutive batches in a
currency tile the log: each starts where the last one ended.

Creation is one INSERT ... SELECT over the log range (set-based; no Python loop over transfers):

  - for each seller whose schedule falls on the day (settlement_payout_due), or each seller named
    for a payout on request, and each currency of their `available` accounts that they are paid
    in: the settlement currency, and every sale currency only if the seller chose to be paid in
    it (`paid_in_sale_currency`). Money in other currencies is converted into the settlement
    currency first (settlement/fx.py, run by create_batches), so the batch in the settlement
    currency takes it; unconverted (no rate yet) it waits, never paid in a currency the seller's
    account may not take;
  - the range starts at their last batch's end and stops at the log's size when the run began;
  - a batch is made when the net is positive and, in the settlement currency, at least the
    seller's minimum payout. Otherwise nothing is made and the money waits: a negative net (a
    refund that found the balance short) is carried into the next period and recovered first.

Idempotent and safe under overlap: unique keys (seller, currency, period_end) and (seller,
currency, log_from) make a second run, or a concurrent one, insert nothing (ON CONFLICT DO
NOTHING), never a second batch over the same transfers.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.db import connection, transaction

from ledger.seals import ledger_append_all_queued, log_size
from settlement.models import SettlementBatch

# Every transfer that moves a seller's available money, except payouts' own (settlement/fx.py
# nets with the same rule).
LINE_FILTER = "t.kind IN ('posted', 'post_pending') AND t.reason NOT LIKE 'payout\\_%%'"

# The sellers due (by schedule on `day`, or named) and, per currency they are paid in (see the
# module's docstring), where their next batch starts: the end of their last one.
_CURSORS = """
WITH due AS (
    SELECT sp.user_id, sp.settlement_currency, sp.minimum_payout_minor, sp.paid_in_sale_currency
      FROM accounts_sellerprofile sp
     WHERE CASE WHEN %(sellers)s::bigint[] IS NULL
                THEN settlement_payout_due(sp.settlement_schedule, sp.payout_weekday,
                                           sp.payout_monthday, %(day)s::date)
                ELSE sp.user_id = ANY(%(sellers)s::bigint[]) END
), cursors AS (
    SELECT d.user_id, d.settlement_currency, d.minimum_payout_minor, a.id AS account_id,
           a.currency, coalesce(last.log_to, 0) AS log_from, last.period_end AS period_start
      FROM due d
      JOIN ledger_account a ON a.code = 'seller:' || d.user_id || ':available'
                           AND (a.currency = d.settlement_currency OR d.paid_in_sale_currency)
      LEFT JOIN LATERAL (
            SELECT b.log_to, b.period_end FROM settlement_settlementbatch b
             WHERE b.seller_id = d.user_id AND b.currency = a.currency
             ORDER BY b.log_to DESC LIMIT 1) AS last ON true
)"""

# Where the run starts reading the log: the earliest cursor. Asked first, as a statement of its
# own, so that the planner of _CREATE_BATCHES knows it as a constant (a subquery's value is
# unknown when planning) and so how much of the log the run reads: the first run over a long
# log hashes it, an hourly run reads its short range by index.
_LOWEST_CURSOR = _CURSORS + "\nSELECT coalesce(min(log_from), 0) FROM cursors"

# Each line of the range is read once and summed per (credit account, debit account, segment of
# the log), a few rows per account: only then are the sums matched to the cursors' accounts, on
# the credit side and on the debit side (matching each line on "credit or debit" would double the
# lines, and filtering them by account costs more than the sum). A segment lies between two
# consecutive cursors' starts (width_bucket over the sorted starts), so each cursor takes the
# segments from its own start on. A cursor below the lowest one seen first (an account that
# appeared between the two statements) waits for the next run, so no batch misses a line.
_BATCH_SUMS = (
    _CURSORS
    + """, starts AS (
    SELECT array_agg(DISTINCT log_from ORDER BY log_from) AS froms FROM cursors
), pairs AS (
    SELECT t.credit_account_id, t.debit_account_id, width_bucket(e.index, s.froms) AS segment,
           sum(t.amount_minor) AS total, count(*) AS lines
      FROM ledger_transfer t
      JOIN ledger_logentry e ON e.transfer_id = t.id
     CROSS JOIN starts s
     WHERE e.index >= %(log_from)s AND e.index < %(log_to)s
       AND {line_filter}
     GROUP BY 1, 2, 3
    UNION ALL
    -- A preview also counts what is committed but still queued for the log: creation appends
    -- it to the log before fixing log_to, so a batch made now would hold it.
    SELECT t.credit_account_id, t.debit_account_id, width_bucket(%(log_to)s, s.froms),
           sum(t.amount_minor), count(*)
      FROM ledger_logqueue q
      JOIN ledger_transfer t ON t.id = q.transfer_id
     CROSS JOIN starts s
     WHERE %(with_queue)s AND {line_filter}
     GROUP BY 1, 2, 3
), sides AS (
    SELECT c.account_id, p.total AS credits, 0 AS debits, p.lines
      FROM cursors c CROSS JOIN starts s
      JOIN pairs p ON p.credit_account_id = c.account_id
     WHERE p.segment >= width_bucket(c.log_from, s.froms)
    UNION ALL
    SELECT c.account_id, 0, p.total, p.lines
      FROM cursors c CROSS JOIN starts s
      JOIN pairs p ON p.debit_account_id = c.account_id
     WHERE p.segment >= width_bucket(c.log_from, s.froms)
), sums AS (
    SELECT c.user_id, c.currency, c.log_from, c.period_start, c.settlement_currency,
           c.minimum_payout_minor,
           sum(s.credits) AS credits, sum(s.debits) AS debits, sum(s.lines) AS lines
      FROM cursors c
      JOIN sides s ON s.account_id = c.account_id
     WHERE c.log_from >= %(log_from)s
     GROUP BY c.user_id, c.currency, c.log_from, c.period_start, c.settlement_currency,
              c.minimum_payout_minor
)
""".replace("{line_filter}", LINE_FILTER)
)

# A batch is made when the net is positive and, in the settlement currency, at least the minimum.
_MAKES_A_BATCH = (
    "credits - debits > 0 "
    "AND (currency <> settlement_currency OR credits - debits >= minimum_payout_minor)"
)

_CREATE_BATCHES = (
    _BATCH_SUMS
    + """
INSERT INTO settlement_settlementbatch
       (id, seller_id, currency, period_start, period_end, log_from, log_to, net_minor,
        line_count, credits_minor, debits_minor, created_at)
SELECT gen_random_uuid(), user_id, currency, period_start, %(day)s::date, log_from, %(log_to)s,
       credits - debits, lines, credits, debits, now()
  FROM sums
 WHERE {makes_a_batch}
ON CONFLICT DO NOTHING
RETURNING {columns}
""".replace("{makes_a_batch}", _MAKES_A_BATCH).replace(
        "{columns}", ", ".join(f.column for f in SettlementBatch._meta.concrete_fields)
    )
)

# What create_batches would make now (the seller dashboard's estimate of the next batch).
_PREVIEW_BATCHES = (
    _BATCH_SUMS
    + """
SELECT user_id, currency, (credits - debits)::bigint, credits::bigint, debits::bigint,
       lines::integer, currency = settlement_currency, minimum_payout_minor, {makes_a_batch}
  FROM sums
 ORDER BY user_id, currency
""".replace("{makes_a_batch}", _MAKES_A_BATCH)
)

# For these statements only (put back after them): JIT compilation would cost seconds (the cost
# estimate is inflated by aggregates whose group counts the planner cannot know) and win nothing;
# the lines' hash table fits in memory instead of spilling to disk in batches.
_SETTINGS = {"jit": "off", "work_mem": "64MB"}
_SET = "SELECT " + ", ".join(f"set_config('{name}', %s, true)" for name in _SETTINGS)
_CURRENT = "SELECT " + ", ".join(f"current_setting('{name}')" for name in _SETTINGS)

# A batch's lines: the transfers on the seller's `available` account in the batch's log range,
# read from the log by its primary key between the range's bounds (never the whole log), each
# entry's transfer then looked up by its key (LATERAL ... LIMIT 1: the planner cannot know the
# range's size, and would otherwise hash the whole transfer table for a few lines).
_LINE_SELECT = """
SELECT e.index AS log_index, t.id AS transfer_id, t.reason, t.reference, t.metadata,
       t.created_at,
       CASE WHEN t.credit_account_id = {account} THEN t.amount_minor
            ELSE -t.amount_minor END AS amount_minor
  FROM ledger_logentry e
 CROSS JOIN LATERAL (
       SELECT t.id, t.reason, t.reference, t.metadata, t.created_at, t.credit_account_id,
              t.amount_minor
         FROM ledger_transfer t
        WHERE t.id = e.transfer_id
          AND {account} IN (t.credit_account_id, t.debit_account_id)
          AND {line_filter}
        LIMIT 1) AS t
 WHERE e.index >= {log_from} AND e.index < {log_to}
""".replace("{line_filter}", LINE_FILTER)

_BATCH_ACCOUNT = """
SELECT b.id, b.log_from, b.log_to, b.period_end, b.currency, a.id AS account_id
  FROM settlement_settlementbatch b
  JOIN ledger_account a ON a.currency = b.currency
                       AND a.code = 'seller:' || b.seller_id || ':available'
"""

# One batch's lines, a page at a time (a keyset on the log index). The bounds are scalar
# subqueries, so the log's index scan starts at the page's first entry.
_LINES = (
    "WITH batch AS MATERIALIZED ("  # noqa: S608 - this module's constant fragments only
    + _BATCH_ACCOUNT
    + " WHERE b.id = %(batch)s)"
    + _LINE_SELECT.format(
        account="(SELECT account_id FROM batch)",
        log_from="(SELECT greatest(log_from, %(after)s + 1) FROM batch)",
        log_to="(SELECT log_to FROM batch)",
    )
    + " ORDER BY e.index LIMIT %(limit)s"
)

# Several batches' lines in one statement (an export): batch after batch by the day each was made
# for, each batch's lines in log order. The batches are ordered before the join, so the planner
# sorts one batch's lines at a time (an incremental sort: a batch's worth of memory, the first
# row at once) instead of the whole range's lines before the first row (an external sort on disk
# at a year of a busy seller: 97,000 lines, 20 MB of temporary files, 10 s before the first row).
_LINES_OF_BATCHES = (
    "SELECT batch.id, line.* FROM ("  # noqa: S608 - this module's constant fragments only
    + _BATCH_ACCOUNT
    + " WHERE b.id = ANY(%(batches)s::uuid[]) ORDER BY b.period_end, b.currency)"
    + " AS batch CROSS JOIN LATERAL ("
    + _LINE_SELECT.format(
        account="batch.account_id", log_from="batch.log_from", log_to="batch.log_to"
    )
    + ") AS line ORDER BY batch.period_end, batch.currency, line.log_index"
)

# The same lines over a range of one seller's account in one currency (what a conversion covered).
_RANGE_LINES = """
SELECT e.index, t.id, t.reason, t.reference, t.metadata, t.created_at,
       CASE WHEN t.credit_account_id = a.id THEN t.amount_minor ELSE -t.amount_minor END
  FROM ledger_account a
  JOIN ledger_logentry e ON e.index >= %(log_from)s AND e.index < %(log_to)s
  JOIN ledger_transfer t ON t.id = e.transfer_id
                        AND (t.credit_account_id = a.id OR t.debit_account_id = a.id)
 WHERE a.currency = %(currency)s AND a.code = 'seller:' || %(seller)s || ':available'
   AND {line_filter}
 ORDER BY e.index
""".replace("{line_filter}", LINE_FILTER)


def bring_log_up_to_date() -> int:
    """Append every committed transfer still queued to the log; return the log's size."""
    ledger_append_all_queued()
    return log_size()


def create_batches(*, day: dt.date, sellers: Sequence[int] | None = None) -> list[SettlementBatch]:
    """Make the batches due on `day` (for every seller whose schedule falls on it), or for the
    named sellers whatever their schedule (a payout asked for). Returns the batches made now,
    by seller and currency.

    The one entry point of batching (the beat task and payouts asked for both come here): money
    in other currencies is converted first, and its transfers are in the log before the range
    below is fixed, so the batch in the settlement currency includes them."""
    from settlement.fx import convert_for_batches  # settlement.fx reads LINE_FILTER from here

    convert_for_batches(day=day, sellers=sellers)
    log_to = bring_log_up_to_date()
    params = {
        "day": day,
        "log_to": log_to,
        "sellers": list(sellers) if sellers else None,
        "with_queue": False,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CURRENT)
        caller = cursor.fetchone()
        cursor.execute(_SET, list(_SETTINGS.values()))
        cursor.execute(_LOWEST_CURSOR, params)
        (params["log_from"],) = cursor.fetchone()
        cursor.execute(_CREATE_BATCHES, params)
        rows = cursor.fetchall()
        cursor.execute(_SET, caller)
    # Built from the INSERT's own RETURNING: reading them back by id costs as much again.
    names = [f.attname for f in SettlementBatch._meta.concrete_fields]
    made = [SettlementBatch.from_db(connection.alias, names, row) for row in rows]
    return sorted(made, key=lambda batch: (batch.seller_id, batch.currency))


@dataclass(frozen=True)
class BatchLine:
    log_index: int
    transfer_id: str
    reason: str
    reference: str
    metadata: dict
    created_at: dt.datetime
    amount_minor: int  # signed: positive paid in, negative taken out


MAX_LINES_PAGE = 1_000
_NO_END = 2**62  # a log index no log reaches
STREAM_CHUNK = 2_000


def _line(row: tuple) -> BatchLine:
    # Django's PostgreSQL backend hands jsonb over as text (JSONField decodes it itself).
    return BatchLine(*row[:4], json.loads(row[4]), *row[5:])


def batch_lines(
    batch: SettlementBatch, *, after_index: int = -1, limit: int | None = None
) -> list[BatchLine]:
    """The ledger transfers a batch covers, in log order; their amounts sum to its net. A page:
    the first `limit` lines after log index `after_index` (a keyset cursor)."""
    if limit is not None and not 0 < limit <= MAX_LINES_PAGE:
        raise ValueError(f"limit must be from 1 to {MAX_LINES_PAGE}")
    with connection.cursor() as cursor:
        cursor.execute(_LINES, {"batch": batch.pk, "after": after_index, "limit": limit})
        return [_line(row) for row in cursor.fetchall()]


def iter_lines_of_batches(
    batches: Sequence[SettlementBatch],
) -> Iterator[tuple[uuid.UUID, BatchLine]]:
    """(batch id, line) for every line of these batches, batch after batch (by period, then
    currency), each in log order: one statement read from a server-side cursor in bounded chunks,
    so memory stays constant however many lines. Call it inside a transaction to stream from the
    query as it runs (outside one, PostgreSQL keeps the whole result for the cursor first)."""
    with connection.cursor() as cursor:
        # The planner's estimate (a log range per batch) passes the JIT thresholds: compiling cost
        # ~1.8 s an export and won nothing. For this transaction only (or this statement).
        cursor.execute("SELECT set_config('jit', 'off', true)")
    with connection.chunked_cursor() as cursor:
        cursor.execute(_LINES_OF_BATCHES, {"batches": [batch.pk for batch in batches]})
        while rows := cursor.fetchmany(STREAM_CHUNK):
            for row in rows:
                yield row[0], _line(row[1:])


@dataclass(frozen=True)
class BatchPreview:
    """What a batch of one seller and currency would be if it were made now."""

    seller_id: int
    currency: str
    net_minor: int
    credits_minor: int
    debits_minor: int
    line_count: int
    in_settlement_currency: bool
    minimum_payout_minor: int
    would_be_made: bool  # positive, and at least the minimum in the settlement currency


def preview_batches(*, sellers: Sequence[int], day: dt.date) -> list[BatchPreview]:
    """The batches create_batches(day=day, sellers=sellers) would make now, and the nets too
    small to make one, without writing anything: the same query, over the log since each
    seller's last batch and what is queued for it. Money in other currencies that creation
    would convert first is not in it (conversion needs its rate, and writes)."""
    if not sellers:
        return []
    # No upper bound on the log: the sums see the log and the queue in one snapshot, and the
    # sealer moves a transfer from one to the other in one transaction, so each is counted once,
    # whichever side it is on.
    params = {"day": day, "log_to": _NO_END, "sellers": list(sellers), "with_queue": True}
    with connection.cursor() as cursor:
        cursor.execute(_LOWEST_CURSOR, params)
        (params["log_from"],) = cursor.fetchone()
        cursor.execute(_PREVIEW_BATCHES, params)
        return [BatchPreview(*row) for row in cursor.fetchall()]


def range_lines(*, seller_id: int, currency: str, log_from: int, log_to: int) -> list[BatchLine]:
    """The lines of the seller's `available` account in `currency` over the log range
    [log_from, log_to), by the batches' rule (what an FX conversion's range covered)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _RANGE_LINES,
            {
                "seller": str(seller_id),
                "currency": currency,
                "log_from": log_from,
                "log_to": log_to,
            },
        )
        rows = cursor.fetchall()
    return _as_lines(rows)


def _as_lines(rows: list[tuple]) -> list[BatchLine]:
    return [_line(row) for row in rows]
