"""A seller's history made in bulk, set-based (INSERT ... SELECT over generate_series, no Python
loop over payments), for `manage.py bench_dashboard` and the tests that check a page costs the
same at two history sizes. Not used by the application.

For `payments` paid sub-orders spread evenly over the last `days` days (EUR, one order each, the
g-th bought by guest buyer<g mod 40>@example.com):

    the newest 5          awaiting the seller's acceptance (nothing captured yet)
    the 2 before          captured, then disputed (an open dispute), held in escrow
    every 50th            captured, then refunded in full from escrow (refund_reserved, refund_paid)
    younger than a day    captured and shipped, held in escrow
    the rest              captured (payment_captured), released a day later (escrow_released to
                          seller:<id>:pending, platform_fee to platform:fees, 2.9 %), matured two
                          days after that (balance_matured to seller:<id>:available)

Daily settlement batches (made at 01:00 UTC for the matured lines since the last batch, as the
hourly task would), each paid by a payout (paid; the newest still submitted, in transit) with its
ledger transfers (payout_reserved, payout_posted, payout_paid) and events. Account counters are
moved by the same amounts the transfers carry, so balances read from the ledger's balance rows
agree with the transfers (ledger.selectors); every transfer is given a place in the log by
`append_log` (the sealer's own append in tests; the bench's bulk append in its scratch database).

The seller must have a profile and no settlement batch yet.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import connection

from ledger import chart
from ledger.seals import log_size
from payments.orders.buyer_reference import buyer_reference_for
from settlement.batches import bring_log_up_to_date
from settlement.models import Payout, SettlementBatch
from settlement.payouts.ledger import payout_transfer_id

CURRENCY = "EUR"
# Guest buyers, each buying every BUYERS-th order (buyer<n>@example.com): at 1,000 payments each
# has 25, a page of the orders list.
BUYERS = 40
FEE_BPS = 290
AWAITING = 5
DISPUTED = 2
REFUND_EVERY = 50


@dataclass(frozen=True)
class History:
    seller_id: int
    payments: int
    transfers: int
    batches: int
    payouts: int


def append_log_in_bulk(batch_ids: Sequence[str]) -> None:
    """Give these transfer batches their log indexes in one statement, in (created_at, id) order
    as the sealer would, with a placeholder leaf hash (sha256 of the id). Only for a scratch
    database nobody else writes to: its log cannot be verified (ledger_verify would refuse it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ledger_logentry (index, leaf_hash, transfer_id)
            SELECT %s + row_number() OVER (ORDER BY t.created_at, t.id) - 1,
                   sha256(uuid_send(t.id)), t.id
              FROM ledger_transfer t WHERE t.batch_id = ANY(%s::uuid[])
            """,
            [log_size(), list(batch_ids)],
        )


def append_log_by_sealer(batch_ids: Sequence[str]) -> None:
    """Queue these transfer batches for the log and let the sealer append them (its own leaf
    hashes: the log stays verifiable)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_logqueue (transfer_id) "
            "SELECT id FROM ledger_transfer WHERE batch_id = ANY(%s::uuid[])",
            [list(batch_ids)],
        )
    bring_log_up_to_date()


_SALES = """
CREATE TEMP TABLE bench_sale AS
SELECT g,
       gen_random_uuid() AS order_id,
       NULL::bigint AS sub_order_id,
       %(start)s::timestamptz + (g - 1) * %(step)s::interval AS paid_at,
       (1000 + (g::bigint * 7919) %% 9000)::bigint AS amount
  FROM generate_series(1, %(n)s) AS g
"""

_COLUMNS = "ALTER TABLE bench_sale ADD COLUMN status text, ADD COLUMN fee bigint, ADD COLUMN matured boolean"

_STATUS = """
UPDATE bench_sale SET
       status = CASE WHEN g > %(n)s - %(awaiting)s THEN 'awaiting_acceptance'
                     WHEN g > %(n)s - %(awaiting)s - %(disputed)s THEN 'disputed'
                     WHEN g %% %(refund_every)s = 0 THEN 'refunded'
                     WHEN paid_at + interval '1 day' > %(now)s THEN 'shipped'
                     ELSE 'confirmed' END,
       fee = (amount * %(fee_bps)s + 5000) / 10000,
       matured = paid_at + interval '3 days' <= %(now)s
"""

_ORDERS = """
INSERT INTO payments_order
       (id, number, buyer_email, currency, total_minor, status, shipping_address, metadata,
        expires_at, created_at, updated_at, buyer_id, checkout_token, payment_failure_reason,
        stock_reserved)
SELECT order_id, %(prefix)s || g, 'buyer' || g %% %(buyers)s || '@example.com', %(currency)s,
       amount,
       CASE WHEN status IN ('confirmed', 'refunded') THEN 'completed' ELSE 'paid' END,
       '{}'::jsonb, '{}'::jsonb, NULL, paid_at, paid_at, NULL, NULL, '', false
  FROM bench_sale
"""

_SUB_ORDERS = """
WITH made AS (
    INSERT INTO payments_suborder
           (amount_minor, currency, status, escrow_transfer_id, created_at, updated_at, order_id,
            seller_id, accept_by, acceptance_key_id, acceptance_signature, accepted_at,
            captured_minor, confirm_by, confirmed_at, fee_minor, rejected_at, rejection_reason,
            shipped_at, buyer_reference)
    SELECT amount, %(currency)s, status, NULL, paid_at, paid_at, order_id, %(seller)s,
           CASE WHEN status = 'awaiting_acceptance' THEN %(now)s + interval '2 days' END,
           NULL, '', NULL,
           CASE WHEN status = 'awaiting_acceptance' THEN 0 ELSE amount END,
           NULL,
           CASE WHEN status = 'confirmed' THEN paid_at + interval '1 day' END,
           CASE WHEN status = 'confirmed' THEN fee END,
           NULL, '', NULL, (%(buyer_references)s::text[])[1 + g %% %(buyers)s]
      FROM bench_sale
    RETURNING id, order_id
)
UPDATE bench_sale s SET sub_order_id = made.id FROM made WHERE made.order_id = s.order_id
"""

_DISPUTES = """
INSERT INTO payments_dispute
       (sub_order_id, opened_by, reason, status, outcome, resolved_by, resolution_note,
        created_at, resolved_at)
SELECT sub_order_id, 'buyer', 'It did not arrive.', 'open', '', '', '', paid_at + interval '1 hour',
       NULL
  FROM bench_sale WHERE status = 'disputed'
"""

# Transfer ids are made of the run, the step and the sale (in that order, so that each step's
# ids grow: the primary key index is appended to, not written at random), and a post can name its
# pending transfer.
_SALE_TRANSFERS = """
INSERT INTO ledger_transfer
       (id, kind, amount_minor, currency, timeout_at, batch_id, reason, reference, metadata,
        created_at, debit_account_id, credit_account_id, pending_id)
SELECT (%(id_prefix)s || lpad(to_hex(m.step), 4, '0') || '-0000-0000-'
        || lpad(to_hex(s.g), 12, '0'))::uuid,
       m.kind, m.amount, %(currency)s, NULL, %(sales_batch)s::uuid, m.reason,
       'sub_order:' || s.sub_order_id,
       jsonb_build_object('order', s.order_id::text, 'sub_order', s.sub_order_id,
                          'seller', %(seller)s),
       m.at, m.debit, m.credit,
       CASE WHEN m.kind = 'post_pending'
            THEN (%(id_prefix)s || '0005-0000-0000-' || lpad(to_hex(s.g), 12, '0'))::uuid END
  FROM bench_sale s
 CROSS JOIN LATERAL (VALUES
       (1, 'posted', s.amount, 'payment_captured', s.paid_at,
        %(external)s::bigint, %(escrow)s::bigint, s.status <> 'awaiting_acceptance'),
       (2, 'posted', s.amount - s.fee, 'escrow_released', s.paid_at + interval '1 day',
        %(escrow)s, %(pending)s, s.status = 'confirmed'),
       (3, 'posted', s.fee, 'platform_fee', s.paid_at + interval '1 day',
        %(escrow)s, %(fees)s, s.status = 'confirmed'),
       (4, 'posted', s.amount - s.fee, 'balance_matured', s.paid_at + interval '3 days',
        %(pending)s, %(available)s, s.status = 'confirmed' AND s.matured),
       (5, 'pending', s.amount, 'refund_reserved',
        s.paid_at + interval '2 hours', %(escrow)s, %(external)s, s.status = 'refunded'),
       (6, 'post_pending', s.amount, 'refund_paid',
        s.paid_at + interval '2 hours 1 second', %(escrow)s, %(external)s, s.status = 'refunded')
 ) AS m (step, kind, amount, reason, at, debit, credit, wanted)
 WHERE m.wanted
"""

# One batch per day with matured lines, made at 01:00 UTC for the lines before it: consecutive
# batches tile the log (each starts where the last ended; the first at 0).
_BATCHES = """
WITH lines AS (
    SELECT e.index, t.amount_minor,
           ((t.created_at AT TIME ZONE 'UTC') - interval '1 hour')::date + 1 AS period_end
      FROM ledger_transfer t JOIN ledger_logentry e ON e.transfer_id = t.id
     WHERE t.batch_id = %(sales_batch)s::uuid AND t.reason = 'balance_matured'
), days AS (
    SELECT period_end, sum(amount_minor) AS net, count(*) AS lines, max(index) + 1 AS log_to
      FROM lines
     WHERE period_end + interval '1 hour' <= %(now)s AT TIME ZONE 'UTC'
     GROUP BY period_end
), tiled AS (
    SELECT period_end, net, lines, log_to,
           coalesce(lag(log_to) OVER (ORDER BY period_end), 0) AS log_from,
           lag(period_end) OVER (ORDER BY period_end) AS period_start
      FROM days
)
INSERT INTO settlement_settlementbatch
       (id, seller_id, currency, period_start, period_end, log_from, log_to, net_minor,
        line_count, credits_minor, debits_minor, created_at)
SELECT md5(%(run)s || ':batch:' || period_end)::uuid, %(seller)s, %(currency)s, period_start,
       period_end, log_from, log_to, net, lines, net, 0,
       (period_end + interval '1 hour') AT TIME ZONE 'UTC'
  FROM tiled
"""

_PAYOUTS = """
INSERT INTO settlement_payout
       (id, batch_id, seller_id, amount_minor, currency, status, creditor_name, iban, bic,
        bank_reference, failure_code, failure_message, check_after, attempts, created_at,
        submitted_at, paid_at, failed_at, returned_at, updated_at)
SELECT md5(%(run)s || ':payout:' || b.id)::uuid, b.id, b.seller_id, b.net_minor, b.currency,
       CASE WHEN b.period_end = last.period_end THEN 'submitted' ELSE 'paid' END,
       'Bench seller', 'DE89370400440532013000', 'COBADEFFXXX',
       'BENCH-' || to_char(b.period_end, 'YYYYMMDD'), '', '', NULL, 1,
       b.created_at + interval '5 minutes', b.created_at + interval '6 minutes',
       CASE WHEN b.period_end = last.period_end THEN NULL
            ELSE b.created_at + interval '10 minutes' END,
       NULL, NULL, b.created_at + interval '10 minutes'
  FROM settlement_settlementbatch b
 CROSS JOIN (SELECT max(period_end) AS period_end FROM settlement_settlementbatch
              WHERE seller_id = %(seller)s) AS last
 WHERE b.seller_id = %(seller)s
"""

_PAYOUT_EVENTS = """
INSERT INTO settlement_payoutevent (payout_id, kind, data, created_at)
SELECT p.id, e.kind, jsonb_build_object('bank_reference', p.bank_reference), e.at
  FROM settlement_payout p
 CROSS JOIN LATERAL (VALUES ('submitted', p.submitted_at), ('paid', p.paid_at)) AS e (kind, at)
 WHERE p.seller_id = %(seller)s AND e.at IS NOT NULL
"""

# The payouts' own transfers, with the ids the payout services give them (payout_transfer_id:
# uuid5, computed in Python), so that the services can go on from here (a submitted payout paid).
_PAYOUT_TRANSFERS = """
INSERT INTO ledger_transfer
       (id, kind, amount_minor, currency, timeout_at, batch_id, reason, reference, metadata,
        created_at, debit_account_id, credit_account_id, pending_id)
SELECT m.id, m.kind, p.amount_minor, p.currency, NULL, %(payouts_batch)s::uuid, m.reason,
       'payout:' || p.id,
       jsonb_build_object('payout', p.id::text, 'batch', p.batch_id::text, 'seller', p.seller_id),
       m.at, m.debit, m.credit, CASE WHEN m.kind = 'post_pending' THEN ids.reserve END
  FROM settlement_payout p
  JOIN unnest(%(payout_ids)s::uuid[], %(reserve_ids)s::uuid[], %(post_ids)s::uuid[],
              %(paid_ids)s::uuid[]) AS ids (payout, reserve, post, paid) ON ids.payout = p.id
 CROSS JOIN LATERAL (VALUES
       (ids.reserve, 'pending', 'payout_reserved', p.submitted_at,
        %(available)s::bigint, %(in_transit)s::bigint, true),
       (ids.post, 'post_pending', 'payout_posted', p.paid_at,
        %(available)s, %(in_transit)s, p.paid_at IS NOT NULL),
       (ids.paid, 'posted', 'payout_paid', p.paid_at + interval '1 microsecond',
        %(in_transit)s, %(bank)s, p.paid_at IS NOT NULL)
 ) AS m (id, kind, reason, at, debit, credit, wanted)
 WHERE m.wanted
"""

# The counters move as the ledger's posting moves them: a pending adds to the pending counters;
# its post takes the pending amount off them and adds the posted amount; a posted transfer adds
# to the posted counters.
_COUNTERS = """
WITH legs AS (
    SELECT x.account_id, x.dp, x.dpo, x.cp, x.cpo
      FROM (SELECT t.*, CASE WHEN t.pending_id IS NOT NULL THEN
                   (SELECT p.amount_minor FROM ledger_transfer p WHERE p.id = t.pending_id)
                   END AS closed_minor
              FROM ledger_transfer t
             WHERE t.batch_id IN (%(sales_batch)s::uuid, %(payouts_batch)s::uuid)) AS t
     CROSS JOIN LATERAL (VALUES
           (t.debit_account_id,
            CASE t.kind WHEN 'pending' THEN t.amount_minor
                        WHEN 'post_pending' THEN -t.closed_minor ELSE 0 END,
            CASE WHEN t.kind IN ('posted', 'post_pending') THEN t.amount_minor ELSE 0 END,
            0::bigint, 0::bigint),
           (t.credit_account_id, 0::bigint, 0::bigint,
            CASE t.kind WHEN 'pending' THEN t.amount_minor
                        WHEN 'post_pending' THEN -t.closed_minor ELSE 0 END,
            CASE WHEN t.kind IN ('posted', 'post_pending') THEN t.amount_minor ELSE 0 END)
     ) AS x (account_id, dp, dpo, cp, cpo)
)
UPDATE ledger_account a
   SET debits_pending = a.debits_pending + s.dp, debits_posted = a.debits_posted + s.dpo,
       credits_pending = a.credits_pending + s.cp, credits_posted = a.credits_posted + s.cpo
  FROM (SELECT account_id, sum(dp) AS dp, sum(dpo) AS dpo, sum(cp) AS cp, sum(cpo) AS cpo
          FROM legs GROUP BY account_id) AS s
 WHERE a.id = s.account_id
"""


def _run_all(statements, params: dict, progress: Callable[[str], None]) -> None:
    with connection.cursor() as cursor:
        for label, statement in statements:
            progress(label)
            cursor.execute(statement, params)


def build_histories(
    sellers: Sequence[tuple[object, int]],
    *,
    days: int,
    now: dt.datetime,
    append_log: Callable[[Sequence[str]], None] = append_log_by_sealer,
    progress: Callable[[str], None] = lambda message: None,
) -> list[History]:
    """For each (seller, payments): that many paid sub-orders over the last `days` days, with
    their ledger transfers, the daily batches and their payouts (module docstring). The sellers'
    transfers share one log, in time order, as they would on a live platform."""
    runs = []
    for seller, payments in sellers:
        if payments < AWAITING + DISPUTED + 1 or not 1 <= days <= 3_650:
            raise ValueError("at least 8 payments, over 1 to 3,650 days")
        if SettlementBatch.objects.filter(seller_id=seller.pk).exists():
            raise ValueError("the seller already has settlement batches")
        run = uuid.uuid4()
        start = now - dt.timedelta(days=days)
        runs.append(
            {
                **_accounts(seller),
                "run": str(run),
                "id_prefix": f"{run.hex[:8]}-",
                "sales_batch": str(uuid.uuid4()),
                "payouts_batch": str(uuid.uuid4()),
                "seller": seller.pk,
                "currency": CURRENCY,
                "n": payments,
                "now": now,
                "start": start,
                "step": (now - dt.timedelta(hours=1) - start) / payments,
                "awaiting": AWAITING,
                "disputed": DISPUTED,
                "refund_every": REFUND_EVERY,
                "fee_bps": FEE_BPS,
                "prefix": f"B{run.hex[:6].upper()}-",
                "buyers": BUYERS,
                "buyer_references": guest_buyer_references(),
            }
        )
    for params in runs:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_sale")
        progress(f"seller {params['seller']}: {params['n']:,} payments")
        _run_all(
            [
                ("sales", _SALES),
                ("states", _COLUMNS),
                ("states", _STATUS),
                ("orders", _ORDERS),
                ("sub-orders", _SUB_ORDERS),
                ("disputes", _DISPUTES),
                ("sale transfers", _SALE_TRANSFERS),
            ],
            params,
            progress,
        )
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_sale")
    progress("log")
    append_log([params["sales_batch"] for params in runs])
    for params in runs:
        _run_all(
            [
                ("batches", _BATCHES),
                ("payouts", _PAYOUTS),
                ("payout events", _PAYOUT_EVENTS),
            ],
            params,
            progress,
        )
        payout_ids = list(
            Payout.objects.filter(seller_id=params["seller"]).values_list("id", flat=True)
        )
        steps = {
            f"{step}_ids": [str(payout_transfer_id(payout, step)) for payout in payout_ids]
            for step in ("reserve", "post", "paid")
        }
        _run_all(
            [("payout transfers", _PAYOUT_TRANSFERS)],
            {**params, **steps, "payout_ids": [str(payout) for payout in payout_ids]},
            progress,
        )
    progress("log")
    append_log([params["payouts_batch"] for params in runs])
    made = []
    for params in runs:
        _run_all([("balances", _COUNTERS)], params, progress)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM ledger_transfer WHERE batch_id = ANY(%s::uuid[])",
                [[params["sales_batch"], params["payouts_batch"]]],
            )
            transfers = cursor.fetchone()[0]
        batches = SettlementBatch.objects.filter(seller_id=params["seller"]).count()
        made.append(History(params["seller"], params["n"], transfers, batches, batches))
    return made


def guest_buyer_references() -> list[str]:
    """The buyer references of the history's guest buyers, the n-th of buyer<n>@example.com."""
    return [
        buyer_reference_for(buyer_id=None, buyer_email=f"buyer{n}@example.com")
        for n in range(BUYERS)
    ]


def _accounts(seller) -> dict[str, int]:
    return {
        "external": chart.account(currency=CURRENCY, code=chart.external("sandbox")),
        "escrow": chart.account(currency=CURRENCY, code=chart.ESCROW),
        "fees": chart.account(currency=CURRENCY, code=chart.FEES),
        "pending": chart.account(currency=CURRENCY, code=chart.seller_pending(seller.pk)),
        "available": chart.account(currency=CURRENCY, code=chart.seller_available(seller.pk)),
        "in_transit": chart.account(currency=CURRENCY, code=chart.PAYOUTS_IN_TRANSIT),
        "bank": chart.account(currency=CURRENCY, code=chart.BANK),
    }


def build_history(*, seller, payments: int, days: int, now: dt.datetime, **options) -> History:
    """One seller's history (build_histories for one)."""
    return build_histories([(seller, payments)], days=days, now=now, **options)[0]
