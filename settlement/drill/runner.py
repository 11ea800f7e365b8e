"""The drill itself: the stack and the world up, every batch paid through faults and kills, wait
until every payout is final and the bank has gone quiet, then reconcile.

The faults:
    bank knobs      latency, timeouts, 5xx (before or after doing the work), duplicate and
                    dropped callbacks, returns after paid (BANK_KNOBS)
    crash points    workers and web SIGKILL themselves at submit.before_bank,
                    submit.after_bank and callback.before_commit (settlement/payouts/
                    crash_points.py): each point at least once, then at a seeded rate, within a
                    budget
    kills           on a seeded schedule while payouts are in flight, a worker's or the web
                    server's whole process group is SIGKILLed
Every dead process is restarted. The sweeper (settlement.payouts_sweep) runs every few seconds
with short deadlines; sellers whose account did not exist give a real one and are paid again.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Count

from settlement.drill import world
from settlement.drill.database import drill_database, new_token
from settlement.drill.reconcile import Reconciliation, reconcile
from settlement.drill.stack import BANK_OPENING_MINOR, Stack
from settlement.gateways.base import BankError
from settlement.gateways.sandbox_operator import SandboxBankOperator
from settlement.models import Payout, PayoutStatus
from settlement.payouts import services
from settlement.payouts.tasks import payouts_sweep

TICK_S = 0.25
SWEEP_EVERY_S = 2.0
PROGRESS_EVERY_S = 5.0
# The bank's faults while payouts are made (docs/sandbox_bank.md). hang_ms is past the client's
# timeout (stack.BANK_CLIENT_TIMEOUT_S): a hung request is one the platform gives up on.
BANK_KNOBS = {
    "latency_ms": 15,
    "timeout_rate": 0.03,
    "timeout_mode": "either",
    "hang_ms": 2_500,
    "error_rate": 0.05,
    "error_mode": "either",
    "duplicate_callbacks_rate": 0.15,
    "drop_callbacks_rate": 0.10,
    "return_after_paid_rate": 0.03,
    "settle_delay_ms": 300,
    "return_delay_ms": 1_500,
}
CALM_KNOBS = {
    "latency_ms": 0,
    "timeout_rate": 0.0,
    "error_rate": 0.0,
    "duplicate_callbacks_rate": 0.0,
    "drop_callbacks_rate": 0.0,
    "return_after_paid_rate": 0.0,
}


@dataclass(frozen=True)
class DrillOptions:
    payouts: int = 300
    seed: int = 1
    workers: int = 2
    concurrency: int = 2
    deadline_s: float = 900.0
    database_url: str | None = None
    keep: bool = False
    crash_budget: int | None = None  # crash-point kills; default from the number of payouts
    kill_budget: int | None = None  # scheduled kills; default from the number of payouts

    @property
    def crashes(self) -> int:
        return self.crash_budget if self.crash_budget is not None else max(4, self.payouts // 12)

    @property
    def kills(self) -> int:
        return self.kill_budget if self.kill_budget is not None else max(3, self.payouts // 20)


@dataclass
class DrillOutcome:
    result: Reconciliation
    seed: int
    elapsed_s: float
    crashes: Counter = field(default_factory=Counter)
    kills: Counter = field(default_factory=Counter)
    restarts: int = 0
    log_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return self.result.ok

    def line(self) -> str:
        return json.dumps(self.result.summary(self.seed))


class Drill:
    def __init__(self, options: DrillOptions, *, err: TextIO = sys.stderr) -> None:
        self.options = options
        self.err = err
        self.token = new_token()
        self.rng = random.Random(options.seed)  # noqa: S311 - a simulation
        self.chaos = random.Random(options.seed * 7919 + 1)  # noqa: S311
        self.started = time.monotonic()
        self.fixed: set[int] = set()

    def say(self, message: str) -> None:
        self.err.write(f"[drill {time.monotonic() - self.started:7.1f}s] {message}\n")
        self.err.flush()

    def run(self) -> DrillOutcome:
        options = self.options
        if not settings.REDIS_URL or not settings.CELERY_BROKER_URL.startswith("redis"):
            raise RuntimeError("The drill needs Redis: set REDIS_URL=redis://...")
        log_dir = Path(tempfile.mkdtemp(prefix=f"clearhouse-drill-{self.token}-"))
        self.say(
            f"seed {options.seed}: {options.payouts} payouts, {options.workers} workers, "
            f"logs in {log_dir}"
        )
        outcome = None
        try:
            with drill_database(
                url=options.database_url, token=self.token, keep=options.keep
            ) as database:
                self.say(f"database {database.name} ({'new' if database.created else 'given'})")
                stack = Stack(
                    database=database,
                    token=self.token,
                    seed=options.seed,
                    log_dir=log_dir,
                    crash_budget=options.crashes,
                    say=self.say,
                )
                with stack.running(workers=options.workers, concurrency=options.concurrency):
                    outcome = self._run_on(stack)
                    outcome.log_dir = log_dir
                return outcome
        finally:
            if outcome is not None and outcome.ok and not options.keep:
                shutil.rmtree(log_dir, ignore_errors=True)
                outcome.log_dir = None
            else:
                self.say(f"logs kept in {log_dir}")

    def _run_on(self, stack: Stack) -> DrillOutcome:
        operator, gateway = stack.operator(), stack.gateway()
        self.say("making sellers, bank accounts, releases and batches")
        sellers = world.make_sellers(self.options.payouts, self.rng, self.token)
        world.open_bank_accounts(operator, sellers)
        releases = world.release_money(sellers, self.rng)
        batch_ids = world.batches_after_hold(sellers)
        kinds = Counter(seller.kind for seller in sellers)
        self.say(f"{releases} releases, {len(batch_ids)} batches; sellers {dict(kinds)}")
        operator.set_faults(**BANK_KNOBS, seed=self.options.seed)
        self.say(f"bank faults on: {BANK_KNOBS}")
        self._pay(stack, batch_ids, sellers)
        operator.set_faults(**CALM_KNOBS)  # reading the bank's records is not part of the drill
        self.say("reconciling the bank's records with the platform's")
        close_old_connections()
        result = _retrying(
            lambda: reconcile(
                gateway, currency=world.CURRENCY, bank_opening_minor=BANK_OPENING_MINOR
            )
        )
        outcome = DrillOutcome(
            result=result,
            seed=self.options.seed,
            elapsed_s=time.monotonic() - self.started,
            crashes=stack.crashes(),
            kills=stack.kills,
            restarts=stack.restarts,
        )
        self._report(outcome)
        return outcome

    # --- paying, under fire -------------------------------------------------------------------

    def _pay(self, stack: Stack, batch_ids: list, sellers: list[world.DrillSeller]) -> None:
        operator = stack.operator()
        fixable = {seller.user_id: seller for seller in sellers if seller.kind == "unknown"}
        made = services.create_payouts(batch_ids)  # their submission is enqueued on commit
        self.say(f"{len(made)} payouts made and enqueued")
        deadline = time.monotonic() + self.options.deadline_s
        next_sweep = next_progress = time.monotonic()
        next_kill = time.monotonic() + self.chaos.uniform(1, 3)
        while True:
            now = time.monotonic()
            stack.restart_the_dead()
            counts = self._platform_counts()
            in_flight = counts.get("created", 0) + counts.get("submitted", 0)
            watched = counts.get("watched", 0)  # paid, their return window still open
            if in_flight and now >= next_kill and sum(stack.kills.values()) < self.options.kills:
                stack.kill_one(self.chaos)
                next_kill = now + self.chaos.uniform(2, 6)
            self._fix_accounts(fixable, operator)
            if now >= next_sweep:
                try:
                    payouts_sweep()
                except Exception as error:  # the next sweep tries again; say why this one failed
                    self.say(f"sweep failed: {error!r}")
                next_sweep = now + SWEEP_EVERY_S
            if now >= next_progress:
                self._progress(stack, counts)
                next_progress = now + PROGRESS_EVERY_S
            if not in_flight and not watched and _bank_quiet(stack):
                self._progress(stack, self._platform_counts())
                self.say("every payout is final and the bank has nothing left to say")
                return
            if now > deadline:
                self._progress(stack, counts)
                self.say(f"deadline of {self.options.deadline_s:.0f} s reached")
                return
            time.sleep(TICK_S)

    def _platform_counts(self) -> dict[str, int]:
        close_old_connections()
        rows = Payout.objects.values("status").annotate(n=Count("id")).order_by()
        counts = {row["status"]: row["n"] for row in rows}
        counts["watched"] = Payout.objects.filter(
            status=PayoutStatus.PAID, check_after__isnull=False
        ).count()
        return counts

    def _fix_accounts(
        self, fixable: dict[int, world.DrillSeller], operator: SandboxBankOperator
    ) -> None:
        """Sellers whose payout was refused for an unknown account give a real one; the batch is
        paid again (the sweeper's retry, asked for at once)."""
        failed = set(
            Payout.objects.filter(
                seller_id__in=set(fixable) - self.fixed, status=PayoutStatus.FAILED
            ).values_list("seller_id", flat=True)
        )
        for seller_id in failed:
            world.fix_bank_account(operator, fixable[seller_id])
            self.fixed.add(seller_id)
        if failed:
            again = services.retry_unpaid_batches()
            self.say(f"{len(failed)} sellers gave a real account; {len(again)} batches paid again")

    # --- reporting ----------------------------------------------------------------------------

    def _progress(self, stack: Stack, counts: dict[str, int]) -> None:
        order = ("created", "submitted", "paid", "failed", "returned")
        states = " ".join(f"{name} {counts.get(name, 0)}" for name in order)
        states += f" (paid in return window {counts.get('watched', 0)})"
        self.say(
            f"{states} | crash points {sum(stack.crashes().values())}, "
            f"kills {sum(stack.kills.values())}, restarts {stack.restarts}"
        )

    def _report(self, outcome: DrillOutcome) -> None:
        result = outcome.result
        self.say(f"payouts by status: {result.statuses}")
        self.say(f"crash points hit: {dict(outcome.crashes)}")
        self.say(f"scheduled kills: {dict(outcome.kills)}; restarts {outcome.restarts}")
        self.say(
            f"bank paid {result.bank_total_minor}, its platform account went down by "
            f"{result.bank_account_paid_minor}, ledger external:bank {result.ledger_paid_minor}, "
            f"in transit {result.in_transit_minor}; cases for staff {result.cases}"
        )
        for case in result.case_details:
            self.say(f"case for staff: {case}")
        for problem in result.problems[:50]:
            self.say(f"PROBLEM {problem}")
        self.say(("OK" if outcome.ok else "FAILED") + f" in {outcome.elapsed_s:.0f} s")


def _bank_quiet(stack: Stack) -> bool:
    """Nothing left in flight at the bank: no transfer accepted, no callback waiting to be
    delivered (a late one would change what is compared)."""
    try:
        if stack.operator().callbacks(status="pending"):
            return False
        return not any(stack.gateway().transfers(status="accepted"))
    except BankError:
        return False


def _retrying(call: Callable[[], Reconciliation], attempts: int = 5) -> Reconciliation:
    for attempt in range(attempts):
        try:
            return call()
        except BankError:
            if attempt == attempts - 1:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def run_drill(options: DrillOptions, *, err: TextIO = sys.stderr) -> DrillOutcome:
    return Drill(options, err=err).run()
