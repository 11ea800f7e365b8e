"""Helpers for `manage.py bench_settlement` (PostgreSQL only; a benchmark, not the application).

Setup bulk-loads what the release step leaves behind, with the ledger's own shapes:
  - sellers (users with a seller profile, a valid IBAN, daily schedule, no minimum payout), in
    three settlement currencies; one in five paid in each sale's currency and selling in two;
  - per currency, the captured money: one `external:bench_psp -> platform:escrow` transfer
    ("payment_captured") of what the releases then take out of escrow;
  - per released payment, the release's net `platform:escrow -> seller:<id>:pending`
    ("escrow_released", reference and metadata as settlement.release.services writes them), its
    LogQueue row, and its HeldRelease (no reserve; the hold ended a day ago);
  - the accounts' counters, as the postings would have left them (deltas folded).
Each is one INSERT ... SELECT over generate_series, chunked; the accounts are made first, as
ledger.chart would make them (no limit flags, no owner). The release's fee transfer is left out:
batches never look at platform:fees, and the captured money already balances escrow.

Maturation and the log append are then the application's own jobs (settlement.maturation and
settlement.batches), timed and reported by the command.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CURRENCIES = ("EUR", "USD", "GBP")
PSP = "external:bench_psp"
LOAD_CHUNK = 100_000
# Each seller is paid in its settlement currency, CURRENCIES[index % 3], and sells in it; every
# TWO_CURRENCIES_EVERY-th seller is paid in each sale's own currency (paid_in_sale_currency) and
# sells every OTHER_CURRENCY_EVERY-th round in the next currency too: two batches, no conversion
# (settlement/fx.py converts only for sellers paid in their settlement currency, and none of the
# others has money in another currency).
TWO_CURRENCIES_EVERY = 5
OTHER_CURRENCY_EVERY = 5
# A German bank code for the sellers' IBANs (any valid IBAN will do for the batches).
SELLER_BANK_CODE = "37040044"
NEXT_DAY = dt.timedelta(days=1)
NOT_DUE_FOR = dt.timedelta(days=30)
BULK_MATURE_CHUNK = 100_000


@dataclass(frozen=True)
class Shape:
    rows: int
    sellers: int
    currencies: tuple[str, ...] = CURRENCIES

    def seller_currencies(self, index: int) -> list[str]:
        """The currencies seller `index` (0-based) receives money in."""
        k = len(self.currencies)
        found = []
        if index < self.rows:
            found.append(self.currencies[index % k])
        # The first sale of round OTHER_CURRENCY_EVERY - 1 is number index + 4 * sellers.
        first_other = index + (OTHER_CURRENCY_EVERY - 1) * self.sellers
        if self.two_currencies(index) and k > 1 and first_other < self.rows:
            found.append(self.currencies[(index + 1) % k])
        return found

    @staticmethod
    def two_currencies(index: int) -> bool:
        return index % TWO_CURRENCIES_EVERY == 0


# Sale g (0-based) of the whole load: seller g % S, in round g / S; currency as
# Shape.seller_currencies says; a net amount between 1.00 and 500.00.
_SALE_COLUMNS = f"""
    (%(sellers)s::bigint[])[1 + g %% %(n)s] AS seller_id,
    (%(currencies)s::text[])[1 + ((g %% %(n)s)
        + ((g %% %(n)s) %% {TWO_CURRENCIES_EVERY} = 0
           AND (g / %(n)s) %% {OTHER_CURRENCY_EVERY} = {OTHER_CURRENCY_EVERY} - 1)::int)
        %% %(k)s] AS currency,
    100 + (g * 7919) %% 49901 AS amount_minor,
    %(released_at)s::timestamptz + g * interval '1 microsecond' AS released_at
"""

_LOAD_RELEASES = f"""
WITH sale AS (
    SELECT g, {_SALE_COLUMNS}
      FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) AS g
), released AS (
    INSERT INTO ledger_transfer (
        id, kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id,
        timeout_at, batch_id, reason, reference, metadata, created_at)
    SELECT gen_random_uuid(), 'posted', escrow.id, pending.id, s.amount_minor, s.currency,
           NULL, NULL, NULL, 'escrow_released', 'sub_order:' || (s.g + 1),
           jsonb_build_object('order', gen_random_uuid(), 'sub_order', s.g + 1,
                              'seller', s.seller_id),
           s.released_at
      FROM sale s
      JOIN ledger_account escrow
        ON escrow.currency = s.currency AND escrow.code = 'platform:escrow'
      JOIN ledger_account pending
        ON pending.currency = s.currency AND pending.code = 'seller:' || s.seller_id || ':pending'
    RETURNING id, amount_minor, currency, created_at, (metadata ->> 'seller')::bigint AS seller_id,
              (metadata ->> 'sub_order')::bigint - 1 AS g
), queued AS (
    INSERT INTO ledger_logqueue (transfer_id) SELECT id FROM released
)
INSERT INTO settlement_heldrelease (
    release_transfer_id, seller_id, currency, amount_minor, reserve_minor, due_at,
    reserve_due_at, matured_at, reserve_released_at, created_at)
SELECT id, seller_id, currency, amount_minor, 0,
       created_at + %(hold)s::interval + CASE WHEN g < %(due_rows)s / 2 THEN interval '0'
                                              WHEN g < %(due_rows)s THEN %(next_day)s::interval
                                              ELSE %(later)s::interval END,
       NULL, NULL, NULL, created_at
  FROM released
"""

# The captured money the releases take out of escrow, one transfer per currency.
_LOAD_CAPTURES = """
WITH captured AS (
    INSERT INTO ledger_transfer (
        id, kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id,
        timeout_at, batch_id, reason, reference, metadata, created_at)
    SELECT gen_random_uuid(), 'posted', psp.id, escrow.id, h.total, h.currency, NULL, NULL, NULL,
           'payment_captured', 'bench:captures', '{}'::jsonb,
           %(released_at)s::timestamptz - interval '1 second'
      FROM (SELECT currency, sum(amount_minor) AS total FROM settlement_heldrelease
             GROUP BY currency) h
      JOIN ledger_account psp ON psp.currency = h.currency AND psp.code = %(psp)s
      JOIN ledger_account escrow ON escrow.currency = h.currency AND escrow.code = 'platform:escrow'
    RETURNING id
)
INSERT INTO ledger_logqueue (transfer_id) SELECT id FROM captured
"""

# The counters every loaded transfer would have moved (the bulk load posts no deltas).
_LOAD_COUNTERS = """
UPDATE ledger_account a
   SET debits_posted = a.debits_posted + s.debits, credits_posted = a.credits_posted + s.credits
  FROM (SELECT account_id, sum(debits) AS debits, sum(credits) AS credits
          FROM (SELECT debit_account_id AS account_id, amount_minor AS debits, 0 AS credits
                  FROM ledger_transfer
                UNION ALL
                SELECT credit_account_id, 0, amount_minor FROM ledger_transfer) AS moves
         GROUP BY account_id) AS s
 WHERE a.id = s.account_id
"""

_SELLERS = """
WITH made AS (
    INSERT INTO accounts_user (
        password, last_login, is_superuser, email, display_name, role, is_active, is_staff,
        date_joined)
    SELECT '!', NULL, false, 'bench-seller-' || g || '@bench.invalid', 'Bench Seller ' || g,
           'seller', true, false, now()
      FROM generate_series(0, %(n)s - 1) AS g
    RETURNING id, display_name, split_part(email, '@', 1) AS handle
), numbered AS (
    SELECT id, display_name, substr(handle, 14)::bigint AS g FROM made
), iban AS (
    SELECT n.*, %(bank)s || lpad(n.g::text, 10, '0') AS bban FROM numbered n
)
INSERT INTO accounts_sellerprofile (
    user_id, legal_name, country, default_currency, settlement_currency, bank_account_holder,
    iban, bic, account_number, routing_number, settlement_schedule, payout_weekday,
    payout_monthday, minimum_payout_minor, fee_plan, paid_in_sale_currency, created_at,
    updated_at)
SELECT i.id, i.display_name, 'DE', c.currency, c.currency, i.display_name,
       'DE' || lpad((98 - ((i.bban || '131400')::numeric %% 97))::text, 2, '0') || i.bban,
       '', '', '', 'daily', 1, 1, 0, 'standard', i.g %% %(two_every)s = 0, now(), now()
  FROM iban i
 CROSS JOIN LATERAL (SELECT (%(currencies)s::text[])[1 + i.g %% %(k)s] AS currency) c
RETURNING user_id
"""

_ACCOUNTS = """
INSERT INTO ledger_account (
    currency, code, owner_ref, debits_must_not_exceed_credits, credits_must_not_exceed_debits,
    debits_pending, debits_posted, credits_pending, credits_posted, created_at)
SELECT currency, code, '', false, false, 0, 0, 0, 0, now()
  FROM unnest(%(currencies)s::text[], %(codes)s::text[]) AS u(currency, code)
ON CONFLICT DO NOTHING
"""


def load_sellers(cursor, shape: Shape) -> list[int]:
    """Make the sellers; their user ids, in seller order."""
    cursor.execute(
        _SELLERS,
        {
            "n": shape.sellers,
            "bank": SELLER_BANK_CODE,
            "currencies": list(shape.currencies),
            "k": len(shape.currencies),
            "two_every": TWO_CURRENCIES_EVERY,
        },
    )
    cursor.execute("SELECT user_id FROM accounts_sellerprofile ORDER BY substr(iban, 13)::bigint")
    return [row[0] for row in cursor.fetchall()]


def load_accounts(cursor, shape: Shape, seller_ids: Sequence[int]) -> int:
    """The ledger accounts the load and the jobs post to; how many sellers' (seller, currency)
    pairs hold money."""
    currencies, codes = [], []
    for currency in shape.currencies:
        for code in ("platform:escrow", PSP):
            currencies.append(currency)
            codes.append(code)
    pairs = 0
    for index, seller_id in enumerate(seller_ids):
        for currency in shape.seller_currencies(index):
            pairs += 1
            for kind in ("pending", "available", "reserve"):
                currencies.append(currency)
                codes.append(f"seller:{seller_id}:{kind}")
    cursor.execute(_ACCOUNTS, {"currencies": currencies, "codes": codes})
    return pairs


def load_releases(
    cursor,
    shape: Shape,
    seller_ids: Sequence[int],
    *,
    released_at: dt.datetime,
    hold: dt.timedelta,
    due_rows: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """The released payments (see the module's docstring), then the captures and counters.
    The holds of the first half of `due_rows` have ended; those of the second half end a day
    later, the others NOT_DUE_FOR later: the maturation job takes the first half with a cold
    process (each account looked up once), then the second half, and bulk_mature the rest."""
    params = {
        "due_rows": due_rows,
        "next_day": NEXT_DAY,
        "later": NOT_DUE_FOR,
        "sellers": list(seller_ids),
        "n": shape.sellers,
        "currencies": list(shape.currencies),
        "k": len(shape.currencies),
        "released_at": released_at,
        "hold": hold,
        "psp": PSP,
    }
    for start in range(0, shape.rows, LOAD_CHUNK):
        stop = min(shape.rows, start + LOAD_CHUNK)
        cursor.execute(_LOAD_RELEASES, {**params, "start": start, "stop": stop})
        if progress:
            progress(stop)
    cursor.execute(_LOAD_CAPTURES, params)
    cursor.execute(_LOAD_COUNTERS)


# What mature_due posts, written in bulk: its own claim and its own SELECT of the transfers (so
# the same ids, accounts, reasons, references and metadata), one BalanceDelta per account and
# chunk as ledger_create_transfers writes them, and the LogQueue rows.
_BULK_MATURED = """
WITH made AS (
    INSERT INTO ledger_transfer (
        id, kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id,
        timeout_at, batch_id, reason, reference, metadata, created_at)
    SELECT q.id, q.kind, q.debit_account_id, q.credit_account_id, q.amount_minor, q.currency,
           q.pending_id, NULL, %s::uuid, q.reason, q.reference, q.metadata, clock_timestamp()
      FROM ({transfers}) AS q
    RETURNING id, debit_account_id, credit_account_id, amount_minor
), queued AS (
    INSERT INTO ledger_logqueue (transfer_id) SELECT id FROM made
), moved AS (
    SELECT debit_account_id AS account_id, amount_minor AS debits, 0 AS credits FROM made
    UNION ALL
    SELECT credit_account_id, 0, amount_minor FROM made
)
INSERT INTO ledger_balancedelta (
    account_id, debits_pending, debits_posted, credits_pending, credits_posted)
SELECT account_id, 0, sum(debits), 0, sum(credits) FROM moved GROUP BY account_id
"""


def bulk_mature(cursor, *, now: dt.datetime) -> int:
    """Mature every held release still waiting (as if its hold had ended), in chunks of
    BULK_MATURE_CHUNK; how many."""
    from ledger import chart
    from settlement import maturation

    insert = _BULK_MATURED.replace("{transfers}", maturation._MATURED_TRANSFERS)
    done = 0
    while True:
        cursor.execute(maturation._CLAIM_MATURED, [now, now + 2 * NOT_DUE_FOR, BULK_MATURE_CHUNK])
        ids, _expected, _sellers = cursor.fetchone()
        if not ids:
            return done
        ids = [str(i) for i in ids]
        cursor.execute(insert, [str(uuid.uuid4()), str(chart.MATURATION_TRANSFERS), ids])
        done += len(ids)


APPEND_CHUNK = 50_000


def append_log(connection) -> int:
    """Every queued transfer into the ledger's log, as the sealer appends them (dense indexes in
    (created_at, id) order, the leaf hash of each transfer's canonical bytes, ledger's own
    functions), in one pass: one server-side read, COPY, and the queue emptied. How many.

    The sealer's append (ledger.seals) reads its next 5,000 queued transfers by walking the
    transfers in (created_at, id) order from the start: on a backlog of millions, each batch
    walks what the batches before it appended (quadratic; settlement.batches.
    bring_log_up_to_date loops it so). Production never has such a backlog (the sealer runs every
    minute); a bulk-loaded benchmark does."""
    from ledger import merkle
    from ledger.canonical_transfer import canonical_text_values, pg_canonical_columns
    from ledger.seals import SEAL_LOCK_KEY

    appended = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        cursor.execute("SELECT coalesce(max(index) + 1, 0) FROM ledger_logentry")
        (first,) = cursor.fetchone()
    raw = connection.connection
    with raw.cursor(name="bench_settlement_queued") as queued, raw.cursor() as writer:
        queued.execute(
            f"SELECT {pg_canonical_columns('t')} FROM ledger_transfer t"
            " JOIN ledger_logqueue q ON q.transfer_id = t.id ORDER BY t.created_at, t.id"
        )
        while rows := queued.fetchmany(APPEND_CHUNK):
            with writer.copy(
                'COPY ledger_logentry ("index", transfer_id, leaf_hash) FROM STDIN'
            ) as copy:
                copy.set_types(["int8", "uuid", "bytea"])
                for row in rows:
                    leaf = merkle.leaf_hash(canonical_text_values(row))
                    copy.write_row((first + appended, uuid.UUID(row[0]), leaf))
                    appended += 1
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE ledger_logqueue")
    return appended


# --- p5: batches against the plain GROUP BY ----------------------------------------------------

# The baseline: each seller's money per currency, summed over the same transfers the batches
# cover (everything posted to a seller's available account), with nothing else.
GROUP_BY_SQL = """
SELECT a.code, t.currency, sum(t.amount_minor)
  FROM ledger_transfer t
  JOIN ledger_account a ON a.id = t.credit_account_id
 WHERE a.code LIKE 'seller:%:available'
 GROUP BY a.code, t.currency
"""


def timed(run: Callable[[], object]) -> tuple[float, object]:
    began = time.perf_counter()
    value = run()
    return time.perf_counter() - began, value


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# After the last run: the batches, their nets and lines; the sellers' available balances
# (counters plus unfolded deltas, as ledger.selectors reads them); the released nets.
VERIFY_SQL = """
SELECT (SELECT count(*) FROM settlement_settlementbatch),
       (SELECT coalesce(sum(net_minor), 0) FROM settlement_settlementbatch),
       (SELECT coalesce(sum(line_count), 0) FROM settlement_settlementbatch),
       (SELECT coalesce(sum(a.credits_posted - a.debits_posted
                            + coalesce(d.cpo, 0) - coalesce(d.dpo, 0)), 0)
          FROM ledger_account a
          LEFT JOIN (SELECT account_id, sum(credits_posted) AS cpo, sum(debits_posted) AS dpo
                       FROM ledger_balancedelta GROUP BY account_id) d ON d.account_id = a.id
         WHERE a.code LIKE 'seller:%:available'),
       (SELECT coalesce(sum(amount_minor), 0) FROM settlement_heldrelease)
"""
