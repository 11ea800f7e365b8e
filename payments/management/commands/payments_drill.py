"""`manage.py payments_drill [--seconds 60] [--threads 4] [--seed N]`: the payments fault drill
(payments/drill/, docs/payments.md "Fault drill").

Needs PostgreSQL (DATABASE_URL: a new database is made on that server for the run and dropped
after it; or --database-url names an empty scratch database) and Redis (REDIS_URL). Progress goes
to stderr; the last line on stdout is one JSON object; the exit status is 1 when anything is off.
Everything it starts is stopped however it ends (Ctrl-C included).
"""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand, CommandError

from payments.drill.runner import DrillOptions, run_drill


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class Command(BaseCommand):
    help = (
        "Card payments through gunicorn, Celery and beat while database backends are killed and "
        "the worker SIGKILLed, by clients retrying by Idempotency-Key; then every payment checked "
        "against the processor's records, the ledger and ledger_verify."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seconds", type=float, default=60.0, help="how long clients pay")
        parser.add_argument("--threads", type=int, default=4, help="clients paying at once")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--database-url",
            help="an empty scratch database to run on (default: a new one, dropped afterwards)",
        )
        parser.add_argument(
            "--keep", action="store_true", help="keep the new database and the logs afterwards"
        )

    def handle(self, *args, **options) -> None:
        if options["seconds"] <= 0 or options["threads"] < 1:
            raise CommandError("--seconds is above 0 and --threads at least 1")
        drill = DrillOptions(
            seconds=options["seconds"],
            threads=options["threads"],
            seed=options["seed"],
            database_url=options["database_url"],
            keep=options["keep"],
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
