"""Each seller's sales, fees and refunds per day and currency (SellerDailyTotal), kept from the
ledger's log by a set-based job, so that a chart of 90 days reads 90 rows per currency whether the
seller made a thousand payments or a million.

What counts, from the ledger's posted transfers (the ledger is where money is; payments' rows
are not summed):

    sales     payment_captured   a capture of a sub-order's hold into escrow
    fees      platform_fee       the platform's fee taken when escrow is released
    refunds   refund_paid        a refund paid to the buyer (from escrow or the seller's balance)

Each is attributed to the seller of the sub-order its metadata names (`sub_order`); a day is the
transfer's UTC date. Transfers without a sub-order (tests' and staff's own) are left out.

Exactly once: a cursor row (LogCursor) holds the next log index to read. A run locks it, adds the
entries [cursor, cursor + CHUNK) with one INSERT ... SELECT ... ON CONFLICT DO UPDATE (adding to
the day's row), and moves the cursor in the same transaction; a concurrent run waits on the lock
and then starts where this one stopped. The log is append-only and dense, so an entry is read once.
Freshness: the beat task runs every minute, and entries reach the log when the sealer appends
them (ledger-seal, every minute), so a chart trails the ledger by a minute or two.
"""

from __future__ import annotations

from django.db import connection, transaction

from ledger.seals import log_size
from settlement.dashboard.models import LogCursor

CURSOR_NAME = "seller_daily_totals"
CHUNK_ENTRIES = 50_000  # log entries per statement (and per transaction)
MAX_CHUNKS_PER_RUN = 200  # a run stops after this many chunks; the next run goes on

SALE_REASONS = ["payment_captured"]
FEE_REASONS = ["platform_fee"]
REFUND_REASONS = ["refund_paid"]

# Each entry's transfer and sub-order are looked up by primary key, one by one (LATERAL ...
# LIMIT 1 keeps the planner from hashing the whole transfer or sub-order table for a chunk: a
# run costs its entries, however long the log). The sub-order is read from the transfer's
# metadata; anything that is not a plain integer id matches none (a cast error would stop the
# job for everyone).
_ADD_ENTRIES = """
WITH moves AS (
    SELECT so.seller_id, (t.created_at AT TIME ZONE 'UTC')::date AS day, t.currency, t.reason,
           t.amount_minor
      FROM ledger_logentry e
     CROSS JOIN LATERAL (
           SELECT t.created_at, t.currency, t.reason, t.amount_minor, t.metadata
             FROM ledger_transfer t
            WHERE t.id = e.transfer_id
              AND t.kind IN ('posted', 'post_pending')
              AND t.reason = ANY(%(reasons)s)
            LIMIT 1) AS t
     CROSS JOIN LATERAL (
           SELECT so.seller_id
             FROM payments_suborder so
            WHERE so.id = CASE WHEN t.metadata ->> 'sub_order' ~ '^[0-9]{1,18}$'
                               THEN (t.metadata ->> 'sub_order')::bigint END
            LIMIT 1) AS so
     WHERE e.index >= %(from)s AND e.index < %(to)s
)
INSERT INTO settlement_sellerdailytotal AS total
       (seller_id, day, currency, sales_minor, sales_count, fees_minor, refunds_minor,
        refunds_count)
SELECT seller_id, day, currency,
       coalesce(sum(amount_minor) FILTER (WHERE reason = ANY(%(sales)s)), 0),
       count(*) FILTER (WHERE reason = ANY(%(sales)s)),
       coalesce(sum(amount_minor) FILTER (WHERE reason = ANY(%(fees)s)), 0),
       coalesce(sum(amount_minor) FILTER (WHERE reason = ANY(%(refunds)s)), 0),
       count(*) FILTER (WHERE reason = ANY(%(refunds)s))
  FROM moves
 GROUP BY seller_id, day, currency
ON CONFLICT (seller_id, day, currency) DO UPDATE
   SET sales_minor = total.sales_minor + excluded.sales_minor,
       sales_count = total.sales_count + excluded.sales_count,
       fees_minor = total.fees_minor + excluded.fees_minor,
       refunds_minor = total.refunds_minor + excluded.refunds_minor,
       refunds_count = total.refunds_count + excluded.refunds_count
"""


def _locked_cursor() -> LogCursor:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO settlement_logcursor (name, next_index, updated_at) "
            "VALUES (%s, 0, now()) ON CONFLICT DO NOTHING",
            [CURSOR_NAME],
        )
    return LogCursor.objects.select_for_update().get(name=CURSOR_NAME)


def daily_totals_refresh(
    *, chunk_entries: int = CHUNK_ENTRIES, max_chunks: int = MAX_CHUNKS_PER_RUN
) -> int:
    """Add the log entries appended since the last run to the daily totals; return how many
    entries were read. Safe to run concurrently and to repeat."""
    if not 0 < chunk_entries <= 1_000_000 or not 0 < max_chunks <= 10_000:
        raise ValueError("chunk_entries and max_chunks must be positive (and bounded)")
    read = 0
    for _ in range(max_chunks):
        with transaction.atomic():
            cursor_row = _locked_cursor()
            start = cursor_row.next_index
            stop = min(start + chunk_entries, log_size())
            if stop <= start:
                break
            with connection.cursor() as cursor:
                cursor.execute(
                    _ADD_ENTRIES,
                    {
                        "from": start,
                        "to": stop,
                        "reasons": SALE_REASONS + FEE_REASONS + REFUND_REASONS,
                        "sales": SALE_REASONS,
                        "fees": FEE_REASONS,
                        "refunds": REFUND_REASONS,
                    },
                )
            cursor_row.next_index = stop
            cursor_row.save(update_fields=["next_index", "updated_at"])
        read += stop - start
    return read
