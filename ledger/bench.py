"""Helpers for `manage.py bench_ledger` (PostgreSQL only). Not used by the application.

Worker processes are spawned fresh (multiprocessing "spawn"): each sets DATABASE_URL to the bench's
scratch database, sets Django up and opens its own connection. Only the standard library is
imported at module level, so a spawned child can import this before Django is set up.
"""

from __future__ import annotations

import os
import random
import time
import uuid

BULK_REASON = "bench_bulk"
BULK_CHUNK = 100_000
MIX_LIMITED_SHARE = 0.1


def worker_main(
    url: str,
    mode: str,
    duration_s: float,
    account_ids: list[int],
    hot_id: int,
    batch_size: int,
    seed: int,
    barrier,
    results,
    free_ids: list[int] | None = None,
) -> None:
    """One client: post for duration_s seconds after the barrier; put a report on `results`.

    Modes: "single" and "batch" move money between the limited accounts `account_ids` (every
    transfer locks two rows); "hot" credits `hot_id` (no limit) each time; "batch_mix" is the
    marketplace's mix in batches: MIX_LIMITED_SHARE of the transfers debit a limited account
    (a payout from a seller's available balance), the rest move between the accounts without a
    limit `free_ids` (escrow, pending balances, fees: BalanceDelta rows, no lock).
    """
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from ledger.errors import LedgerError
    from ledger.services import TransferRequest, create_transfer, create_transfers

    settings.DEBUG = False  # no query log in the client
    connection.ensure_connection()
    rng = random.Random(seed)  # noqa: S311 - a benchmark workload

    def one() -> TransferRequest:
        if mode == "batch_mix":
            if rng.random() < MIX_LIMITED_SHARE:
                debit, credit = rng.choice(account_ids), rng.choice(free_ids)
            else:
                debit, credit = rng.sample(free_ids, 2)
            return TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=debit,
                credit_account_id=credit,
                amount_minor=rng.randint(1, 100),
                currency="USD",
                reason="bench",
            )
        debit = rng.choice(account_ids)
        credit = hot_id if mode == "hot" else rng.choice(account_ids)
        while credit == debit:
            credit = rng.choice(account_ids)
        return TransferRequest(
            id=uuid.uuid4(),
            debit_account_id=debit,
            credit_account_id=credit,
            amount_minor=rng.randint(1, 100),
            currency="USD",
            reason="bench",
        )

    latencies_ms: list[float] = []
    errors: dict[str, int] = {}
    count = 0
    barrier.wait(timeout=300)
    start = time.perf_counter()
    deadline = start + duration_s
    while time.perf_counter() < deadline:
        batched = mode in ("batch", "batch_mix")
        requests = [one() for _ in range(batch_size)] if batched else [one()]
        began = time.perf_counter()
        try:
            if batched:
                create_transfers(requests)
            else:
                create_transfer(requests[0])
        except LedgerError as error:
            errors[error.code] = errors.get(error.code, 0) + 1
            continue
        latencies_ms.append((time.perf_counter() - began) * 1000)
        count += len(requests)
    results.put(
        {
            "count": count,
            "elapsed_s": time.perf_counter() - start,
            "latencies_ms": latencies_ms,
            "errors": errors,
        }
    )
    connection.close()


def bulk_load(cursor, *, source_id: int, account_ids: list[int], start: int, stop: int) -> None:
    """Insert transfers start..stop-1 (posted, source -> accounts) with their LogQueue rows, and
    add them to the counters, so the ledger stays consistent. Chunked by BULK_CHUNK."""
    for chunk_start in range(start, stop, BULK_CHUNK):
        chunk_stop = min(stop, chunk_start + BULK_CHUNK)
        params = {
            "ids": account_ids,
            "n": len(account_ids),
            "source": source_id,
            "reason": BULK_REASON,
            "start": chunk_start,
            "stop": chunk_stop - 1,
        }
        cursor.execute(
            """
            WITH t AS (
                INSERT INTO ledger_transfer (
                    id, kind, debit_account_id, credit_account_id, amount_minor, currency,
                    pending_id, timeout_at, batch_id, reason, reference, metadata, created_at)
                SELECT gen_random_uuid(), 'posted', %(source)s,
                       (%(ids)s::bigint[])[1 + g %% %(n)s], 1 + g %% 97, 'USD', NULL, NULL, NULL,
                       %(reason)s, '', '{}'::jsonb,
                       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 microsecond'
                  FROM generate_series(%(start)s, %(stop)s) AS g
                RETURNING id
            )
            INSERT INTO ledger_logqueue (transfer_id) SELECT id FROM t
            """,
            params,
        )
        cursor.execute(
            """
            UPDATE ledger_account a
               SET credits_posted = a.credits_posted + s.total
              FROM (SELECT (%(ids)s::bigint[])[1 + g %% %(n)s] AS account_id,
                           sum(1 + g %% 97) AS total
                      FROM generate_series(%(start)s, %(stop)s) AS g
                     GROUP BY 1) s
             WHERE a.id = s.account_id
            """,
            params,
        )
        cursor.execute(
            """
            UPDATE ledger_account
               SET debits_posted = debits_posted
                   + (SELECT sum(1 + g %% 97) FROM generate_series(%(start)s, %(stop)s) AS g)
             WHERE id = %(source)s
            """,
            params,
        )


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]
