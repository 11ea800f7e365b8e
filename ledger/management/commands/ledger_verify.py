"""manage.py ledger_verify: check the whole ledger; exit status 1 and one line per problem if not sound.

From code: call_command("ledger_verify", quiet=True) returns normally when the ledger is sound and
raises CommandError (returncode 1) when it is not; ledger.verification.verify_ledger() gives the
report itself (problems, counts, timings) without the command around it.
"""

from django.core.management.base import BaseCommand, CommandError

from ledger.verification import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_PROBLEMS, verify_ledger


class Command(BaseCommand):
    help = (
        "Verify the ledger: account counters against their transfers, pending rules, trial "
        "balance, every log leaf against its transfer, dense log indexes, and every seal's root, "
        "chain link and signature. Exits 1 naming each problem."
    )

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="print only problems")
        parser.add_argument(
            "--skip-leaves",
            action="store_true",
            help="do not recompute each transfer's leaf hash (seal roots are still checked)",
        )
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
        parser.add_argument(
            "--max-problems",
            type=int,
            default=DEFAULT_MAX_PROBLEMS,
            help="problems shown per kind of check",
        )

    def handle(self, *args, quiet=False, skip_leaves=False, chunk_size, max_problems, **options):
        report = verify_ledger(
            check_leaves=not skip_leaves,
            chunk_size=chunk_size,
            max_problems_per_check=max_problems,
            on_problem=lambda message: self.stderr.write(f"FAIL {message}"),
        )
        counts = report.counts
        summary = (
            f"{counts.get('transfers', 0)} transfers, {counts.get('accounts', 0)} accounts, "
            f"{counts.get('log_entries', 0)} log entries ({counts.get('queued', 0)} queued), "
            f"{counts.get('seals', 0)} seals in {report.elapsed_s:.2f} s"
        )
        if not quiet:
            timings = ", ".join(
                f"{name} {seconds:.2f} s" for name, seconds in report.timings_s.items()
            )
            self.stdout.write(f"ledger_verify: {summary}")
            self.stdout.write(f"ledger_verify: {timings}")
        if not report.ok:
            raise CommandError(
                f"ledger_verify: {report.problem_count} problem(s) found ({summary})", returncode=1
            )
        if not quiet:
            self.stdout.write(self.style.SUCCESS("ledger_verify: OK"))
