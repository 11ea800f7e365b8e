"""The drill in order: the database and the world (sellers with products, buyers with API keys),
the stack, the careful clients for `seconds` while the faults run, then a grace period in which
the sweepers (beat, normal schedule) finish what the clients left, then the reconciliation."""

from __future__ import annotations

import json
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from django.conf import settings
from django.db import close_old_connections

from accounts.models import Role, User
from accounts.services import api_key_create
from payments.catalog.services import MAX_STOCK, product_create
from payments.drill.clients import CarefulClient, Tally
from payments.drill.database import drill_database
from payments.drill.faults import Faults
from payments.drill.reconcile import Reconciliation, not_final_count, reconcile
from payments.drill.stack import Stack

SELLERS = 3
TICK_S = 0.5
PROGRESS_EVERY_S = 5.0
# After the clients stop: recovery runs every 20 s for payments 60 s old, so anything a client
# left is final within two minutes (payments.flows.recovery).
GRACE_S = 150.0


@dataclass(frozen=True)
class DrillOptions:
    seconds: float = 60.0
    threads: int = 4
    seed: int = 1
    database_url: str | None = None
    keep: bool = False


@dataclass
class DrillOutcome:
    result: Reconciliation
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.result.ok

    def line(self) -> str:
        return json.dumps(self.result.summary())


class Drill:
    def __init__(self, options: DrillOptions, *, err: TextIO = sys.stderr) -> None:
        self.options = options
        self.err = err
        self.token = secrets.token_hex(4)
        self.rng = random.Random(options.seed)  # noqa: S311 - a simulation
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        self.err.write(f"[payments drill {time.monotonic() - self.started:7.1f}s] {message}\n")
        self.err.flush()

    def run(self) -> DrillOutcome:
        options = self.options
        if not settings.REDIS_URL or not settings.CELERY_BROKER_URL.startswith("redis"):
            raise RuntimeError("The drill needs Redis: set REDIS_URL=redis://...")
        log_dir = Path(tempfile.mkdtemp(prefix=f"clearhouse-pdrill-{self.token}-"))
        self.say(
            f"seed {options.seed}: {options.seconds:.0f} s of card payments by "
            f"{options.threads} clients; logs in {log_dir}"
        )
        outcome = None
        try:
            with drill_database(
                url=options.database_url, token=self.token, keep=options.keep
            ) as database:
                self.say(f"database {database['NAME']}")
                buyers, product_ids = self._world()
                stack = Stack(database=database, token=self.token, log_dir=log_dir, say=self.say)
                with stack.running():
                    outcome = self._run_on(stack, database, buyers, product_ids)
                return outcome
        finally:
            if outcome is not None and outcome.ok and not options.keep:
                shutil.rmtree(log_dir, ignore_errors=True)
            else:
                self.say(f"logs kept in {log_dir}")

    def _world(self) -> tuple[list[str], list[int]]:
        sellers = [
            User.objects.create_user(
                f"seller{n}-{self.token}@drill.test", secrets.token_urlsafe(16), role=Role.SELLER
            )
            for n in range(SELLERS)
        ]
        product_ids = [
            product_create(
                seller=seller,
                title=f"Drill item {n}",
                description="",
                price_text=f"{10 + n}.{self.rng.randrange(100):02d}",
                currency="EUR",
                stock=MAX_STOCK,
            ).pk
            for n, seller in enumerate(sellers)
        ]
        keys = []
        for n in range(self.options.threads):
            buyer = User.objects.create_user(
                f"buyer{n}-{self.token}@drill.test", secrets.token_urlsafe(16), role=Role.BUYER
            )
            keys.append(api_key_create(owner=buyer, name="drill")[1])
        return keys, product_ids

    def _run_on(
        self, stack: Stack, database: dict, keys: list[str], product_ids: list[int]
    ) -> DrillOutcome:
        tally = Tally()
        faults = Faults(
            database=database,
            application_prefix=stack.application_prefix,
            say=self.say,
        )
        until = time.monotonic() + self.options.seconds
        clients = [
            threading.Thread(
                target=CarefulClient(
                    base_url=stack.base_url,
                    api_key=key,
                    product_ids=product_ids,
                    rng=random.Random(self.rng.getrandbits(64)),  # noqa: S311
                ).run,
                kwargs={"until": until, "tally": tally},
                name=f"client-{n}",
                daemon=True,
            )
            for n, key in enumerate(keys)
        ]
        killer = threading.Thread(target=faults.kill_backends_until_stopped, daemon=True)
        self.say(f"{len(clients)} clients paying; the stack's backends killed every few seconds")
        for thread in [*clients, killer]:
            thread.start()
        worker_kill_at = time.monotonic() + self.options.seconds / 2
        next_progress = time.monotonic()
        while any(thread.is_alive() for thread in clients):
            stack.restart_the_dead()
            now = time.monotonic()
            if worker_kill_at and now >= worker_kill_at and stack.worker is not None:
                self.say(f"SIGKILL the Celery worker (process group {stack.worker.pid})")
                stack.worker.kill()
                worker_kill_at = 0
            if now >= next_progress:
                self._progress(tally, faults, stack)
                next_progress = now + PROGRESS_EVERY_S
            time.sleep(TICK_S)
        faults.stop()
        killer.join(timeout=30)
        self._progress(tally, faults, stack)
        self._wait_for_sweepers(stack)
        self.say("reconciling payments with the processor's records and the ledger")
        close_old_connections()
        result = reconcile(tally)
        outcome = DrillOutcome(result=result, elapsed_s=time.monotonic() - self.started)
        self._report(outcome, tally, faults, stack)
        return outcome

    def _wait_for_sweepers(self, stack: Stack) -> None:
        deadline = time.monotonic() + GRACE_S
        while True:
            stack.restart_the_dead()
            close_old_connections()
            left = not_final_count()
            if not left:
                self.say("every payment is final")
                return
            if time.monotonic() > deadline:
                self.say(f"{left} payments still not final after {GRACE_S:.0f} s")
                return
            self.say(f"{left} payments not final yet; the sweepers are on it")
            time.sleep(5)

    def _progress(self, tally: Tally, faults: Faults, stack: Stack) -> None:
        with tally.lock:
            line = (
                f"requests {tally.requests} (retries {tally.retries}, 500s {tally.http_500}), "
                f"payments answered {len(tally.answered)}, without answer {tally.without_answer}"
            )
        self.say(
            f"{line} | backends killed {sum(faults.killed.values())}, restarts {stack.restarts}"
        )

    def _report(self, outcome: DrillOutcome, tally: Tally, faults: Faults, stack: Stack) -> None:
        result = outcome.result
        self.say(f"answers by status: {dict(sorted(tally.statuses.items()))}")
        self.say(f"payments by status: {dict(result.payments)}")
        self.say(f"backends killed: {dict(faults.killed)}; restarts {stack.restarts}")
        for problem in result.problems[:50]:
            self.say(f"PROBLEM {problem}")
        self.say(("OK" if outcome.ok else "FAILED") + f" in {outcome.elapsed_s:.0f} s")


def run_drill(options: DrillOptions, *, err: TextIO = sys.stderr) -> DrillOutcome:
    return Drill(options, err=err).run()
