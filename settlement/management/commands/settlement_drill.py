"""`manage.py settlement_drill [--payouts 300] [--seed N]`: the payout fault drill
(settlement/drill/, docs/settlement.md "Fault drill").

Needs PostgreSQL (DATABASE_URL: a new database is made on that server for the run and dropped
after it; or --database-url names an empty scratch database) and Redis (REDIS_URL). Progress goes
to stderr; the last line on stdout is one JSON object; the exit status is 1 when anything is off.
Everything it starts is stopped however it ends (Ctrl-C included).
"""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand, CommandError

from settlement.drill.runner import DrillOptions, run_drill


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class Command(BaseCommand):
    help = (
        "Pay batches through real Celery workers, Redis and the sandbox bank with its faults on "
        "while processes are SIGKILLed; check the bank's records, the ledger and ledger_verify."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--payouts", type=int, default=300, help="sellers, one batch each")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
        parser.add_argument("--concurrency", type=int, default=2, help="pool size of each")
        parser.add_argument(
            "--deadline", type=float, default=900.0, help="seconds for the payouts to be final"
        )
        parser.add_argument(
            "--database-url",
            help="an empty scratch database to run on (default: a new one, dropped afterwards)",
        )
        parser.add_argument(
            "--keep", action="store_true", help="keep the new database and the logs afterwards"
        )
        parser.add_argument("--crash-budget", type=int, help="crash-point kills at most")
        parser.add_argument("--kill-budget", type=int, help="scheduled kills at most")

    def handle(self, *args, **options) -> None:
        if options["payouts"] < 1 or options["workers"] < 1 or options["concurrency"] < 1:
            raise CommandError("--payouts, --workers and --concurrency are at least 1")
        drill = DrillOptions(
            payouts=options["payouts"],
            seed=options["seed"],
            workers=options["workers"],
            concurrency=options["concurrency"],
            deadline_s=options["deadline"],
            database_url=options["database_url"],
            keep=options["keep"],
            crash_budget=options["crash_budget"],
            kill_budget=options["kill_budget"],
        )
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            outcome = run_drill(drill, err=self.stderr)
        except KeyboardInterrupt:
            raise CommandError(
                "interrupted; everything it started is stopped", returncode=130
            ) from None
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write(outcome.line())
        if not outcome.ok:
            raise CommandError("the drill found problems (above)", returncode=1)
