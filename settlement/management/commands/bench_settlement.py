"""manage.py bench_settlement: settlement batches against a plain GROUP BY, and payouts per second
against Celery no-op tasks (issue 15, item 8). A benchmark, not a test.

One run, on a scratch database of its own (created and migrated here, dropped at the end unless
--keep; the developer's database is never touched):

 setup (not timed in the ratios; each step's time is printed)
   1. bulk-load N released payments over S sellers in three currencies (bench/settlement.py):
      the release transfers escrow -> seller pending with their HeldRelease rows, as the release
      step leaves them;
   2. settlement.maturation.mature_due, the real job, moves them pending -> available: all of
      them at --quick, the first --mature-job-rows (100,000) at full scale, the rest in bulk with
      the job's own SQL (at ~1,000-4,000 rows/s on this machine the job alone would take most of
      the setup). Timed in two halves, the first in a process that has looked no account up yet
      (`mature_s`, rows/s, cold and warm);
   3. the ledger's log takes every transfer (bench.settlement.append_log: the sealer's own leaf
      hashes in one pass), then settlement.batches.bring_log_up_to_date finds nothing left
      (`log_s`).
 p5
   `create_batches(day=...)` for every seller (`settle_s`) against the plain
   `SELECT seller, currency, sum(...) GROUP BY` over the same transfers (`groupby_s`), each run
   --repeats times, alternating, after one untimed warm-up of each; medians. The batches are
   deleted between runs (untimed). Then checked: one batch per seller and currency with money, and
   the batches' nets sum exactly to the sellers' available balances (and to the released nets).
 p6
   payouts per second from created to paid with real Celery workers, Redis, the platform's web
   process and the sandbox bank (no latency), against no-op Celery tasks per second on the same
   Redis and worker count (bench/settlement_payouts.py). Null, with the reason, when it cannot
   run (no Redis, no sandbox bank) or fails.

--quick: 100,000 payments over 1,000 sellers (said in the output). The last line printed is one
JSON object: {"p5_settle_vs_groupby", "p6_payouts_vs_noop", "settle_s", "groupby_s",
"payouts_per_s", "noop_per_s", "rows", "sellers", "quick", ...}.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, transaction
from django.utils import timezone

from bench import settlement as bench
from core.postgresql.scratch import create_database, database_url, drop_database

FULL = {"rows": 1_000_000, "sellers": 10_000}
QUICK = {"rows": 100_000, "sellers": 1_000}
BATCH_DAY = dt.date(2026, 12, 7)
HOLD = dt.timedelta(days=2)
# At most this many releases are matured by the job itself; the rest in bulk (see setup).
JOB_ROWS = 100_000


class Command(BaseCommand):
    help = "Benchmark settlement batches against a GROUP BY, and payouts against no-op tasks."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--quick", action="store_true", help="100,000 payments, 1,000 sellers")
        parser.add_argument("--rows", type=int, help="released payments (default 1,000,000)")
        parser.add_argument("--sellers", type=int, help="sellers (default 10,000)")
        parser.add_argument("--repeats", type=int, help="timed runs of each query (default 5)")
        parser.add_argument(
            "--database",
            help="scratch database, dropped and made again (default <your database>_bench_settlement)",
        )
        parser.add_argument(
            "--mature-job-rows",
            type=int,
            help=f"releases matured by mature_due itself (default {JOB_ROWS:,}; the rest in bulk)",
        )
        parser.add_argument("--keep", action="store_true", help="keep the scratch database")
        parser.add_argument("--skip-p6", action="store_true", help="no Celery/bank phase")
        parser.add_argument("--payouts", type=int, help="p6 payouts (default 1,000; quick 500)")
        parser.add_argument("--workers", type=int, default=2, help="p6 Celery worker processes")

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("bench_settlement needs PostgreSQL: set DATABASE_URL=postgres://...")
        quick = options["quick"]
        scale = QUICK if quick else FULL
        shape = bench.Shape(
            rows=options["rows"] or scale["rows"], sellers=options["sellers"] or scale["sellers"]
        )
        if shape.rows < 1 or shape.sellers < 1:
            raise CommandError("--rows and --sellers must be positive")
        repeats = options["repeats"] or (3 if quick else 5)
        base = dict(connection.settings_dict)
        scratch = options["database"] or f"{base['NAME']}_bench_settlement"
        # It is dropped and made again: never a database of anyone's data.
        if scratch == base["NAME"] or "bench" not in scratch:
            raise CommandError(
                f"--database {scratch!r}: the scratch database is dropped and made again; give one "
                "whose name says bench (and not your own)"
            )
        self.out(
            f"bench_settlement: {'QUICK run (--quick): ' if quick else ''}{shape.rows:,} released "
            f"payments over {shape.sellers:,} sellers in {', '.join(shape.currencies)}; "
            f"scratch database {scratch}"
        )
        try:
            self.use_scratch_database(base, scratch)
            setup = self.setup(shape, min(shape.rows, options["mature_job_rows"] or JOB_ROWS))
            p5 = self.p5(repeats)
            check = self.verify(shape, setup["pairs"])
            p6 = self.p6(options, base, scratch, quick)
        finally:
            connections["default"].close()
            connections["default"].settings_dict["NAME"] = base["NAME"]
            if not options["keep"]:
                drop_database(base, scratch)

        def ratio(a, b):
            return round(a / b, 3) if a is not None and b else None

        result = {
            "p5_settle_vs_groupby": ratio(p5["settle_s"], p5["groupby_s"]),
            "p6_payouts_vs_noop": ratio(p6["payouts_per_s"], p6["noop_per_s"]),
            "settle_s": round(p5["settle_s"], 3),
            "groupby_s": round(p5["groupby_s"], 3),
            "payouts_per_s": p6["payouts_per_s"] and round(p6["payouts_per_s"], 1),
            "noop_per_s": p6["noop_per_s"] and round(p6["noop_per_s"], 1),
            "rows": shape.rows,
            "sellers": shape.sellers,
            "quick": quick,
            "batches": check["batches"],
            "verified": check["ok"],
            "mature_s": round(setup["mature_s"], 2),
            "mature_rows": setup["mature_rows"],
            "mature_rows_per_s": round(setup["mature_rows"] / setup["mature_s"]),
            "mature_cold_rows_per_s": round(setup["mature_cold_rows_per_s"]),
            "mature_warm_rows_per_s": round(setup["mature_warm_rows_per_s"]),
            "log_s": round(setup["log_s"], 2),
            "settle_runs_s": [round(v, 3) for v in p5["settle_runs"]],
            "groupby_runs_s": [round(v, 3) for v in p5["groupby_runs"]],
            "p6_reason": p6.get("reason"),
        }
        self.stdout.write(json.dumps(result))
        if not check["ok"]:
            raise CommandError("verification failed: " + "; ".join(check["problems"]))

    # --- steps ------------------------------------------------------------------------------

    def out(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def use_scratch_database(self, base: dict, scratch: str) -> None:
        create_database(base, scratch)
        connections["default"].close()
        connections["default"].settings_dict["NAME"] = scratch
        began = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        self.out(f"  migrated in {time.perf_counter() - began:.1f} s")

    def setup(self, shape: bench.Shape, job_rows: int) -> dict:
        from settlement.batches import bring_log_up_to_date
        from settlement.maturation import mature_due

        now = timezone.now()
        released_at = now - HOLD - dt.timedelta(days=1)
        began = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            seller_ids = bench.load_sellers(cursor, shape)
            pairs = bench.load_accounts(cursor, shape, seller_ids)
        with connection.cursor() as cursor:
            bench.load_releases(
                cursor,
                shape,
                seller_ids,
                released_at=released_at,
                hold=HOLD,
                due_rows=job_rows,
                progress=lambda n: self.out(f"  loaded {n:,} releases"),
            )
            cursor.execute("VACUUM ANALYZE")
        self.out(
            f"  setup: sellers, accounts, releases loaded in {time.perf_counter() - began:.1f} s"
        )

        # The maturation job over the releases whose hold has ended: half of job_rows in a
        # process that has not looked any account up yet (as after a worker's restart), then the
        # other half, due a day later, with every account known (all of them, or the first
        # job_rows at full scale, in a table holding all of them).
        cold_s, cold = bench.timed(lambda: mature_due(now=now))
        warm_s, warm = bench.timed(lambda: mature_due(now=now + bench.NEXT_DAY))
        matured = cold["matured"] + warm["matured"]
        if matured != job_rows:
            raise CommandError(f"mature_due matured {matured} of {job_rows} releases")
        mature_s = cold_s + warm_s
        self.out(
            f"  mature_due (the job): {job_rows:,} releases in {mature_s:.1f} s "
            f"({job_rows / mature_s:,.0f} rows/s): {cold['matured']:,} with the account lookups "
            f"in {cold_s:.1f} s ({cold['matured'] / cold_s:,.0f} rows/s), {warm['matured']:,} "
            f"without in {warm_s:.1f} s ({warm['matured'] / warm_s:,.0f} rows/s)"
        )
        if job_rows < shape.rows:
            with transaction.atomic(), connection.cursor() as cursor:
                bulk_s, bulk = bench.timed(lambda: bench.bulk_mature(cursor, now=now))
            self.out(
                f"  the other {bulk:,} matured in bulk with the job's own SQL in {bulk_s:.1f} s"
            )
        # The log: every transfer appended (bench.settlement.append_log says why not by the
        # sealer's loop), then bring_log_up_to_date as create_batches calls it (nothing left).
        began = time.perf_counter()
        with transaction.atomic():
            bench.append_log(connection)
        size = bring_log_up_to_date()
        log_s = time.perf_counter() - began
        self.out(f"  log: {size:,} transfers appended in {log_s:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        return {
            "pairs": pairs,
            "mature_s": mature_s,
            "mature_rows": job_rows,
            "mature_cold_rows_per_s": cold["matured"] / cold_s if cold_s else None,
            "mature_warm_rows_per_s": warm["matured"] / warm_s if warm_s else None,
            "log_s": log_s,
        }

    def p5(self, repeats: int) -> dict:
        from settlement.batches import create_batches

        def settle() -> int:
            return len(create_batches(day=BATCH_DAY))

        def groupby() -> int:
            with connection.cursor() as cursor:
                cursor.execute(bench.GROUP_BY_SQL)
                return len(cursor.fetchall())

        def clear() -> None:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM settlement_settlementbatch")
                cursor.execute("VACUUM ANALYZE settlement_settlementbatch")

        # One untimed run of each warms the cache for both alike.
        groupby()
        settle()
        settle_runs, groupby_runs = [], []
        for turn in range(repeats):
            clear()
            order = [("settle", settle), ("groupby", groupby)]
            for name, run in order if turn % 2 == 0 else reversed(order):
                seconds, count = bench.timed(run)
                (settle_runs if name == "settle" else groupby_runs).append(seconds)
                self.out(f"  p5 run {turn + 1}: {name} {seconds:.3f} s ({count:,} rows)")
        return {
            "settle_s": bench.median(settle_runs),
            "groupby_s": bench.median(groupby_runs),
            "settle_runs": settle_runs,
            "groupby_runs": groupby_runs,
        }

    def verify(self, shape: bench.Shape, pairs: int) -> dict:
        with connection.cursor() as cursor:
            cursor.execute(bench.VERIFY_SQL)
            batches, nets, lines, available, held = cursor.fetchone()
        problems = []
        if batches != pairs:
            problems.append(f"{batches} batches for {pairs} sellers x currencies with money")
        if nets != available:
            problems.append(f"batch nets sum to {nets}, available balances to {available}")
        if nets != held:
            problems.append(f"batch nets sum to {nets}, the released nets to {held}")
        if lines != shape.rows:
            problems.append(f"batches cover {lines} lines for {shape.rows} payments")
        self.out(
            f"  verified: {batches:,} batches (sellers x currencies with money: {pairs:,}); "
            f"nets {nets:,} = available {available:,}: {problems or 'ok'}"
        )
        return {"ok": not problems, "problems": problems, "batches": batches}

    def p6(self, options: dict, base: dict, scratch: str, quick: bool) -> dict:
        none = {"payouts_per_s": None, "noop_per_s": None}
        if options["skip_p6"]:
            return {**none, "reason": "skipped (--skip-p6)"}
        from bench import settlement_payouts

        reason = settlement_payouts.unavailable_reason()
        if reason:
            self.out(f"  p6: not measured: {reason}")
            return {**none, "reason": reason}
        payouts = options["payouts"] or (500 if quick else 1_000)
        return settlement_payouts.run(
            url=database_url(base, scratch),
            payouts=payouts,
            workers=options["workers"],
            redis_url=settings.REDIS_URL,
            out=self.out,
            env=dict(os.environ),
        )
