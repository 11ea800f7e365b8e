"""manage.py bench_ledger: the ledger's benchmark on PostgreSQL (a benchmark, not a test).

In one run, on the configured PostgreSQL server but never in its database:
  (a) pgbench tpcb-like (`-i -s 10`, then `-M prepared -c 4 -j 2 -T 20`) in a scratch database;
  (b) single-transfer posting through ledger.services, 4 client processes, 1,000 accounts with a
      limit (so every transfer locks and updates two account rows): transfers/s, p50/p99 latency;
  (b') for reference, the same PL/pgSQL function driven by pgbench's C client instead of Python:
      the server's share of (b) ("single_sql_tps");
  (c) the same with every transfer crediting one hot account without a limit (a BalanceDelta
      row instead of an update; the folder runs meanwhile, as beat would run it);
  (d) linked batches of 1,000 transfers per call, 4 clients, between the limited accounts of (b):
      transfers/s (the worst case: a batch locks most of the 1,000 accounts, so batches queue);
  (d') the same with the marketplace's mix: 10% of the transfers debit a limited account (a
      payout), the rest move between 1,000 accounts without a limit (escrow, pending balances,
      fees), which take BalanceDelta rows and no lock ("batch_mix_tps", "p3_mix_vs_pgbench");
  (e) ledger_verify over 100k and then 1M transfers (bulk-loaded with consistent counters, then
      sealed): seconds and peak RSS of the verifying process; null when ledger_verify is absent.
Commits are durable (synchronous_commit stays on). The last line printed is one JSON object.
--quick runs a small version in about a minute.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import re
import subprocess
import sys
import tempfile
import time
import uuid

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from core.postgresql.scratch import create_database, database_url, drop_database
from ledger import bench

BENCH_DB = "clearhouse_bench"
PGBENCH_DB = "clearhouse_bench_pgbench"
CLIENTS = 4
ACCOUNTS = 1_000
BATCH_SIZE = 1_000


class Command(BaseCommand):
    help = "Benchmark ledger posting against pgbench on the same PostgreSQL server."

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="a small run (about a minute)")
        parser.add_argument(
            "--keep", action="store_true", help="keep the scratch database afterwards"
        )
        parser.add_argument(
            "--database",
            default=BENCH_DB,
            help=f"scratch database for the ledger (default {BENCH_DB}; dropped at the end)",
        )
        parser.add_argument(
            "--pgbench-database",
            default=PGBENCH_DB,
            help=f"scratch database for pgbench (default {PGBENCH_DB}; dropped at the end)",
        )

    def handle(self, *args, quick: bool = False, keep: bool = False, **options):
        base = dict(connection.settings_dict)
        self.bench_db = options.get("database") or BENCH_DB
        self.pgbench_db = options.get("pgbench_database") or PGBENCH_DB
        if base["NAME"] in (self.bench_db, self.pgbench_db) or self.bench_db == self.pgbench_db:
            raise CommandError("point DATABASE_URL at your own database, not the bench's")
        duration_s = 5 if quick else 20
        scale = 2 if quick else 10
        verify_sizes = (10_000, 100_000) if quick else (100_000, 1_000_000)
        self.out(f"bench_ledger: {'quick' if quick else 'full'} run, {CLIENTS} clients")

        pgbench_tps = self.pgbench(base, scale=scale, duration_s=duration_s)
        self.out(f"(a) pgbench tpcb-like -s {scale}: {pgbench_tps:.0f} tps")

        self.use_scratch_database(base)
        try:
            source_id, hot_id, account_ids, free_ids = self.make_accounts()
            url = database_url(base, self.bench_db)
            single = self.phase(url, "single", duration_s, account_ids, hot_id)
            self.out(
                f"(b) single transfers: {single['tps']:.0f}/s, p50 {single['p50_ms']:.2f} ms, "
                f"p99 {single['p99_ms']:.2f} ms"
            )
            sql_tps = self.sql_only(base, duration_s, account_ids)
            if sql_tps is not None:
                self.out(
                    f"(b') the same function from pgbench's C client (no Python): {sql_tps:.0f}/s"
                )
            hot = self.phase(url, "hot", duration_s, account_ids, hot_id)
            self.out(
                f"(c) single transfers, one hot account: {hot['tps']:.0f}/s, "
                f"p50 {hot['p50_ms']:.2f} ms, p99 {hot['p99_ms']:.2f} ms"
            )
            batch = self.phase(url, "batch", duration_s, account_ids, hot_id)
            self.out(f"(d) batches of {BATCH_SIZE}: {batch['tps']:.0f} transfers/s")
            mix = self.phase(url, "batch_mix", duration_s, account_ids, hot_id, free_ids)
            self.out(
                f"(d') batches of {BATCH_SIZE}, marketplace mix ({bench.MIX_LIMITED_SHARE:.0%} "
                f"debit a limited account): {mix['tps']:.0f} transfers/s"
            )
            verify = self.verify(url, source_id, account_ids, verify_sizes)
        finally:
            connections["default"].close()
            if not keep:
                drop_database(base, self.bench_db)

        def ratio(a, b):
            return round(a / b, 3) if a is not None and b else None

        small, large = verify.get(verify_sizes[0]), verify.get(verify_sizes[1])
        result = {
            "p2_single_vs_pgbench": ratio(single["tps"], pgbench_tps),
            "p3_batch_vs_pgbench": ratio(batch["tps"], pgbench_tps),
            "p4_hot_vs_uniform": ratio(hot["tps"], single["tps"]),
            "p3_mix_vs_pgbench": ratio(mix["tps"], pgbench_tps),
            "p9_verify_1m_vs_100k": ratio(large and large["seconds"], small and small["seconds"]),
            "single_tps": round(single["tps"], 1),
            "hot_tps": round(hot["tps"], 1),
            "batch_tps": round(batch["tps"], 1),
            "batch_mix_tps": round(mix["tps"], 1),
            "pgbench_tps": round(pgbench_tps, 1),
            "single_sql_tps": sql_tps and round(sql_tps, 1),
            "p50_ms": round(single["p50_ms"], 3),
            "p99_ms": round(single["p99_ms"], 3),
            "verify_1m_s": large and round(large["seconds"], 2),
            "verify_rss_mb": large and round(large["rss_mb"], 1),
        }
        if quick:
            result["quick"] = True
        self.stdout.write(json.dumps(result))

    # --- helpers ---------------------------------------------------------------------------

    def out(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def run_pgbench(self, base: dict, database: str, *args: str) -> str:
        command = [
            "pgbench",
            "-h",
            base.get("HOST") or "127.0.0.1",
            "-p",
            str(base.get("PORT") or 5432),
            "-U",
            base.get("USER") or "postgres",
            *args,
            database,
        ]
        env = {**os.environ}
        if base.get("PASSWORD"):
            env["PGPASSWORD"] = base["PASSWORD"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env)
        except FileNotFoundError as error:
            raise CommandError("pgbench is not installed (postgresql-client)") from error
        if done.returncode != 0:
            raise CommandError(f"pgbench failed ({done.returncode}): {done.stderr[-800:]}")
        return done.stdout

    @staticmethod
    def tps(output: str) -> float:
        match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
        if not match:
            raise CommandError(f"could not read pgbench's tps from: {output[-500:]}")
        return float(match.group(1))

    def pgbench(self, base: dict, *, scale: int, duration_s: int) -> float:
        create_database(base, self.pgbench_db)
        try:
            self.run_pgbench(base, self.pgbench_db, "-i", "-q", "-s", str(scale))
            out = self.run_pgbench(
                base, self.pgbench_db, "-M", "prepared", "-c", str(CLIENTS), "-j", "2",
                "-T", str(duration_s),
            )  # fmt: skip
        finally:
            drop_database(base, self.pgbench_db)
        return self.tps(out)

    def sql_only(self, base: dict, duration_s: int, account_ids: list[int]) -> float | None:
        """The single-transfer function driven by pgbench's C client: the server's share of (b)."""
        # Two distinct accounts picked by position in the id list (ids need not be contiguous);
        # with -M prepared the array literal is parsed once per client.
        ids = "'{" + ",".join(map(str, account_ids)) + "}'::bigint[]"
        script = (
            f"\\set d random(1, {len(account_ids)})\n"
            f"\\set c random(1, {len(account_ids) - 1})\n"
            f"SELECT * FROM ledger_create_transfer(gen_random_uuid(), 'posted', ({ids})[:d], "
            f"({ids})[CASE WHEN :c >= :d THEN :c + 1 ELSE :c END], 1, 'USD', NULL, NULL, "
            "'bench', '', '{}'::jsonb);\n"
        )
        with tempfile.NamedTemporaryFile("w", suffix=".pgb") as handle:
            handle.write(script)
            handle.flush()
            try:
                out = self.run_pgbench(
                    base, self.bench_db, "-n", "-M", "prepared", "-c", str(CLIENTS), "-j", "2",
                    "-T", str(duration_s), "-f", handle.name,
                )  # fmt: skip
            except CommandError as error:  # a reference figure only: report, carry on
                self.out(f"(b') skipped: {error}")
                return None
        return self.tps(out)

    def use_scratch_database(self, base: dict) -> None:
        """Create the bench database and point this process's connection at it."""
        create_database(base, self.bench_db)
        connections["default"].close()
        connections["default"].settings_dict["NAME"] = self.bench_db
        self.out(f"scratch database {self.bench_db}: migrating")
        call_command("migrate", verbosity=0, interactive=False)
        call_command("createcachetable", verbosity=0)

    def make_accounts(self) -> tuple[int, int, list[int], list[int]]:
        from ledger.services import TransferRequest, create_transfers, get_or_create_account

        source = get_or_create_account(currency="USD", code="bench:source")
        hot = get_or_create_account(currency="USD", code="bench:hot")
        accounts = [
            get_or_create_account(
                currency="USD", code=f"bench:{i}", debits_must_not_exceed_credits=True
            )
            for i in range(ACCOUNTS)
        ]
        free = [
            get_or_create_account(currency="USD", code=f"bench:free:{i}") for i in range(ACCOUNTS)
        ]
        # Fund every limited account so that no benchmark transfer meets its limit.
        create_transfers(
            [
                TransferRequest(
                    id=uuid.uuid4(),
                    debit_account_id=source.id,
                    credit_account_id=account.id,
                    amount_minor=10**12,
                    currency="USD",
                    reason="bench_fund",
                )
                for account in accounts
            ]
        )
        return source.id, hot.id, [a.id for a in accounts], [a.id for a in free]

    def phase(
        self, url: str, mode: str, duration_s: int, account_ids, hot_id, free_ids=None
    ) -> dict:
        from ledger.services import ledger_fold_deltas

        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(CLIENTS + 1)
        results = context.Queue()
        processes = [
            context.Process(
                target=bench.worker_main,
                args=(
                    url,
                    mode,
                    duration_s,
                    account_ids,
                    hot_id,
                    BATCH_SIZE,
                    seed,
                    barrier,
                    results,
                    free_ids,
                ),
            )
            for seed in range(CLIENTS)
        ]
        for process in processes:
            process.start()
        barrier.wait(timeout=300)
        reports = []
        deadline = time.monotonic() + duration_s + 600
        while len(reports) < CLIENTS and time.monotonic() < deadline:
            if mode == "hot":
                ledger_fold_deltas()  # as the beat task would, every second
            try:
                reports.append(results.get(timeout=1))
            except queue.Empty:
                continue
        for process in processes:
            process.join(timeout=60)
        if len(reports) < CLIENTS:
            raise CommandError(f"phase {mode}: only {len(reports)} of {CLIENTS} clients reported")
        while ledger_fold_deltas():
            pass
        count = sum(report["count"] for report in reports)
        wall_s = max(report["elapsed_s"] for report in reports)
        latencies = sorted(value for report in reports for value in report["latencies_ms"])
        errors: dict[str, int] = {}
        for report in reports:
            for code, n in report["errors"].items():
                errors[code] = errors.get(code, 0) + n
        if errors:
            self.out(f"    {mode}: refused {errors}")
        return {
            "tps": count / wall_s,
            "p50_ms": bench.percentile(latencies, 0.50),
            "p99_ms": bench.percentile(latencies, 0.99),
        }

    def verify(self, url: str, source_id: int, account_ids: list[int], sizes) -> dict:
        commands = get_commands()
        if "ledger_verify" not in commands or "ledger_seal" not in commands:
            self.out("(e) ledger_verify / ledger_seal not installed: skipped (null)")
            return {}
        # Start from an empty ledger so that the log holds exactly `size` transfers.
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE ledger_logentry, ledger_seal, ledger_logqueue, ledger_balancedelta, "
                "ledger_transfer"
            )
            cursor.execute(
                "UPDATE ledger_account SET debits_pending = 0, debits_posted = 0, "
                "credits_pending = 0, credits_posted = 0"
            )
        out: dict[int, dict] = {}
        loaded = 0
        for size in sizes:
            began = time.perf_counter()
            with connection.cursor() as cursor:
                bench.bulk_load(
                    cursor, source_id=source_id, account_ids=account_ids, start=loaded, stop=size
                )
                cursor.execute("VACUUM ANALYZE")
            loaded = size
            self.out(f"    loaded {size} transfers in {time.perf_counter() - began:.1f} s; sealing")
            began = time.perf_counter()
            for _ in range(1_000):  # one seal run appends a bounded number of batches
                call_command("ledger_seal", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
                with connection.cursor() as cursor:
                    cursor.execute("SELECT EXISTS (SELECT 1 FROM ledger_logqueue)")
                    if not cursor.fetchone()[0]:
                        break
            self.out(f"    sealed in {time.perf_counter() - began:.1f} s; verifying")
            seconds, rss_mb, ok = self.run_verify(url)
            out[size] = {"seconds": seconds, "rss_mb": rss_mb}
            self.out(
                f"(e) ledger_verify over {size} transfers: {seconds:.2f} s, peak RSS "
                f"{rss_mb:.0f} MB{'' if ok else ' (REPORTED PROBLEMS)'}"
            )
        return out

    def run_verify(self, url: str) -> tuple[float, float, bool]:
        """Run ledger_verify in its own process: wall time and that process's peak RSS."""
        env = {**os.environ, "DATABASE_URL": url}
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "manage.py", "ledger_verify", "--quiet"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        problems = process.stderr.read().decode(errors="replace").strip()
        process.stderr.close()
        if problems:
            self.out(f"    ledger_verify said: {problems[:500]}")
        # ru_maxrss is in kilobytes on Linux.
        return seconds, usage.ru_maxrss / 1024, process.returncode == 0
