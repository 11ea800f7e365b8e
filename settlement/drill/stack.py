"""The drill's stack, all real and all its own, around the database database.py gives it:

    Redis    REDIS_URL, with a queue named for the run and a visibility timeout of seconds (a
             killed worker's messages come back quickly); the queue and its unacknowledged
             messages are removed at the end
    workers  `celery -A config worker` processes (prefork, late acks), crash points armed
    web      gunicorn serving the platform, so the bank's callbacks go through the real view;
             crash points armed
    bank     `manage.py run_sandbox_bank` with its own SQLite file, calling back to the web

Every process gets the run's settings by its environment (database, queue, bank, short payout
deadlines); this process gets the same ones by override while the stack is up.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.test.utils import override_settings

from core.processes import purge_celery_queue
from settlement.drill.database import DrillDatabase
from settlement.drill.processes import Child, Supervisor, free_port, http_status, wait_until
from settlement.gateways.sandbox import SandboxBankGateway
from settlement.gateways.sandbox_operator import SandboxBankOperator
from settlement.payouts import crash_points

BASE_DIR = Path(settings.BASE_DIR)
START_LIMIT_S = 90
# Short payout deadlines, so the sweeper re-drives within seconds what a lost message or a dropped
# callback left behind (production: 2 and 15 minutes), and a paid payout is asked about once more
# after the bank's return delay (BANK_KNOBS in runner.py) has passed.
CHECK_AFTER_S = 6
RETURN_WATCH_S = 5
VISIBILITY_TIMEOUT_S = 12  # longer than any one task (bank timeout 2 s, a status and a submit)
BANK_CLIENT_TIMEOUT_S = 2.0
BANK_OPENING_MINOR = 10**13
BANK_ENV = {
    "SANDBOX_BANK_CALLBACK_RETRY_BASE_MS": "100",
    "SANDBOX_BANK_CALLBACK_RETRY_MAX_MS": "2000",
    "SANDBOX_BANK_CALLBACK_MAX_ATTEMPTS": "200",
    "SANDBOX_BANK_CALLBACK_TIMEOUT_S": "3",
    "SANDBOX_BANK_PLATFORM_OPENING_BALANCE_MINOR": str(BANK_OPENING_MINOR),
}
# Crash points (settlement/payouts/crash_points.py): each is hit on its first arrival, then at
# these rates, within the run's budget.
CRASH_RATES = {
    "submit.before_bank": 0.04,
    "submit.after_bank": 0.04,
    "callback.before_commit": 0.03,
}


class Stack:
    def __init__(
        self,
        *,
        database: DrillDatabase,
        token: str,
        seed: int,
        log_dir: Path,
        crash_budget: int,
        say: Callable[[str], None],
    ) -> None:
        self.database = database
        self.token = token
        self.seed = seed
        self.log_dir = log_dir
        self.crash_log = log_dir / "crashes.log"
        self.crash_budget = crash_budget
        self.say = say
        self.queue = f"clearhouse-drill-{token}"
        self.bank_url = f"http://127.0.0.1:{free_port()}"
        self.callback_url = f"http://127.0.0.1:{free_port()}/settlement/bank/callbacks"
        self.supervisor = Supervisor()
        self.workers: list[Child] = []
        self.web: Child | None = None
        self.kills: Counter = Counter()

    # --- up and down --------------------------------------------------------------------------

    @contextlib.contextmanager
    def running(self, *, workers: int, concurrency: int) -> Iterator[Stack]:
        """The stack up (bank and web answering, workers starting); everything stopped and the
        queue removed on the way out, however it is left."""
        with self.supervisor, self._platform_settings(), self._own_queue():
            self._start_bank()
            self._start_web()
            for number in range(workers):
                self._start_worker(number, concurrency)
            yield self

    def restart_the_dead(self) -> None:
        for child in self.supervisor.children.values():
            if child.died():
                self.say(f"{child.name} died; restarting it")
                child.start()

    def kill_one(self, chaos: random.Random) -> None:
        """SIGKILL the whole process group of a worker (twice as likely) or the web server."""
        targets = [*self.workers, *self.workers, self.web]
        alive = [child for child in targets if child is not None and child.alive()]
        if not alive:
            return
        child = chaos.choice(alive)
        self.say(f"SIGKILL {child.name} (process group {child.pid})")
        self.kills[child.name] += 1
        child.kill()

    @property
    def restarts(self) -> int:
        return sum(child.starts - 1 for child in self.supervisor.children.values())

    def crashes(self) -> Counter:
        """Crash-point kills so far, by point (from the log every armed process appends to)."""
        try:
            lines = self.crash_log.read_text().splitlines()
        except FileNotFoundError:
            return Counter()
        return Counter(line.split()[1] for line in lines if len(line.split()) > 2)

    # --- clients ------------------------------------------------------------------------------

    def operator(self) -> SandboxBankOperator:
        return SandboxBankOperator(
            base_url=self.bank_url, admin_token=settings.SANDBOX_BANK_ADMIN_TOKEN, timeout_s=10
        )

    def gateway(self) -> SandboxBankGateway:
        return SandboxBankGateway(
            base_url=self.bank_url,
            signing_key=settings.CLEARHOUSE_BANK_SIGNING_KEY,
            webhook_secret=settings.CLEARHOUSE_BANK_WEBHOOK_SECRET,
            timeout_s=10,
        )

    # --- the processes ------------------------------------------------------------------------

    def _env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", ""),
            "DATABASE_URL": self.database.url,
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "CELERY_BROKER_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
            "SANDBOX_BANK_URL": self.bank_url,
            "SANDBOX_BANK_TIMEOUT_S": str(BANK_CLIENT_TIMEOUT_S),
            "SANDBOX_BANK_CALLBACK_URL": self.callback_url,
            "SETTLEMENT_PAYOUT_CREATED_CHECK_S": str(CHECK_AFTER_S),
            "SETTLEMENT_PAYOUT_SUBMITTED_CHECK_S": str(CHECK_AFTER_S),
            "SETTLEMENT_PAYOUT_RETURN_WATCH_S": str(RETURN_WATCH_S),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def _crash_env(self) -> dict[str, str]:
        return {
            crash_points.ENV_POINTS: ",".join(f"{k}={v}" for k, v in CRASH_RATES.items()),
            crash_points.ENV_SEED: str(self.seed),
            crash_points.ENV_LOG: str(self.crash_log),
            crash_points.ENV_BUDGET: str(self.crash_budget),
            crash_points.ENV_FIRST_HITS: "1",
        }

    def _child(self, name: str, command: list[str], env: Mapping[str, str]) -> Child:
        child = self.supervisor.add(
            Child(name, command, env, BASE_DIR, self.log_dir / f"{name}.log")
        )
        child.start()
        return child

    def _start_bank(self) -> None:
        command = [
            *(sys.executable, "manage.py", "run_sandbox_bank"),
            *("--port", self.bank_url.rsplit(":", 1)[1]),
            *("--db", str(self.log_dir / "bank.sqlite3")),
            *("--callback-url", self.callback_url),
        ]
        env = self._env(**BANK_ENV, SANDBOX_BANK_SEED=str(self.seed))
        bank = self._child("bank", command, env)
        wait_until(
            lambda: http_status(f"{self.bank_url}/healthz") == 200,
            child=bank,
            timeout_s=START_LIMIT_S,
            what="the sandbox bank",
        )

    def _start_web(self) -> None:
        address = self.callback_url.split("/")[2]
        command = [
            *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
            *("--bind", address, "--workers", "2", "--timeout", "30"),
            *("--graceful-timeout", "2", "--log-level", "warning"),
        ]
        self.web = self._child("web", command, self._env(**self._crash_env()))
        # The view takes POST only: a 405 to a GET is the platform answering.
        wait_until(
            lambda: http_status(self.callback_url) == 405,
            child=self.web,
            timeout_s=START_LIMIT_S,
            what="the platform's web server",
        )

    def _start_worker(self, number: int, concurrency: int) -> None:
        command = [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork"),
            f"--concurrency={concurrency}",
            f"--queues={self.queue}",
            f"--hostname=drill-{self.token}-{number}@%h",
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"),
        ]
        self.workers.append(self._child(f"worker{number}", command, self._env(**self._crash_env())))

    # --- this process -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _platform_settings(self) -> Iterator[None]:
        """This process as the drill's platform: its deadlines, its bank, its queue."""
        with override_settings(
            SETTLEMENT_PAYOUT_CREATED_CHECK_S=CHECK_AFTER_S,
            SETTLEMENT_PAYOUT_SUBMITTED_CHECK_S=CHECK_AFTER_S,
            SETTLEMENT_PAYOUT_RETURN_WATCH_S=RETURN_WATCH_S,
            SANDBOX_BANK_URL=self.bank_url,
            SANDBOX_BANK_TIMEOUT_S=BANK_CLIENT_TIMEOUT_S,
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
        ):
            yield

    @contextlib.contextmanager
    def _own_queue(self) -> Iterator[None]:
        """Publish to this run's queue; afterwards remove it and its unacknowledged messages."""
        conf = current_app.conf
        previous = conf.task_default_queue
        conf.task_default_queue = self.queue
        try:
            yield
        finally:
            conf.task_default_queue = previous
            with contextlib.suppress(Exception):
                purge_celery_queue(self.queue)
