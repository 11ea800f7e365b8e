"""Crash points: named places on the payout path where the fault drill (`manage.py
settlement_drill`, settlement/drill/) may SIGKILL the process that reaches them, to prove that a
crash at exactly that place loses nothing and pays nothing twice.

    submit.before_bank      the attempt is counted and committed; the bank has not been called
    submit.after_bank       the bank has answered the submit; the answer is not stored yet
    callback.before_commit  a bank callback has been applied inside its transaction, not committed

Inert unless CLEARHOUSE_DRILL_CRASH_POINTS is in the process's environment: only the drill sets
it, for the worker and web processes it starts, and production settings refuse to start with it
set. Then a crash point costs one dictionary lookup.

    CLEARHOUSE_DRILL_CRASH_POINTS  "submit.before_bank=0.05,callback.before_commit=0.03"
    CLEARHOUSE_DRILL_CRASH_SEED    the drill's seed (decisions are a function of it)
    CLEARHOUSE_DRILL_CRASH_LOG     a file: one line is appended per crash, before it
    CLEARHOUSE_DRILL_CRASH_BUDGET  at most this many crashes (lines in the log) in the whole run
    CLEARHOUSE_DRILL_CRASH_FIRST_HITS  "1": the first arrival at each point crashes (so every
                                   point is proved in every run, however small)

Each decision is drawn from a generator seeded by (seed, point, key, crashes so far): the same key
reached again after a crash gets a fresh draw, so a retried payout is not killed forever. Half of
the crashes kill the process alone (a pool child: its parent notices and the task's message is
given back), half its whole process group (the worker or web server with all its children, as a
lost machine: the message comes back after the broker's visibility timeout).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ENV_POINTS = "CLEARHOUSE_DRILL_CRASH_POINTS"
ENV_SEED = "CLEARHOUSE_DRILL_CRASH_SEED"
ENV_LOG = "CLEARHOUSE_DRILL_CRASH_LOG"
ENV_BUDGET = "CLEARHOUSE_DRILL_CRASH_BUDGET"
ENV_FIRST_HITS = "CLEARHOUSE_DRILL_CRASH_FIRST_HITS"

POINTS = frozenset({"submit.before_bank", "submit.after_bank", "callback.before_commit"})
SCOPES = ("process", "group")


@dataclass(frozen=True)
class CrashPlan:
    rates: Mapping[str, float]
    seed: int
    log_path: Path
    budget: int
    first_hits: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CrashPlan | None:
        """The plan the environment asks for, or None (crash points inert). A malformed plan is
        a ValueError: a drill that silently crashes nothing would prove nothing."""
        raw = environ.get(ENV_POINTS, "").strip()
        if not raw:
            return None
        rates: dict[str, float] = {}
        for part in raw.split(","):
            name, _, rate = part.strip().partition("=")
            if name not in POINTS:
                raise ValueError(f"{ENV_POINTS}: unknown crash point {name!r}")
            rates[name] = float(rate)
            if not 0 <= rates[name] <= 1:
                raise ValueError(f"{ENV_POINTS}: the rate of {name} is not in [0, 1]")
        log = environ.get(ENV_LOG, "").strip()
        if not log:
            raise ValueError(f"{ENV_POINTS} needs {ENV_LOG} (the crashes are counted there)")
        return cls(
            rates=rates,
            seed=int(environ.get(ENV_SEED, "0")),
            log_path=Path(log),
            budget=int(environ.get(ENV_BUDGET, "20")),
            first_hits=environ.get(ENV_FIRST_HITS, "") == "1",
        )

    def crashed_points(self) -> list[str]:
        """The point of each crash so far, from the log (shared by every process of the run)."""
        try:
            lines = self.log_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [line.split()[1] for line in lines if len(line.split()) > 2]

    def decide(self, point: str, key: str) -> str | None:
        """The scope to kill ("process" or "group") at this point for this key, or None."""
        rate = self.rates.get(point, 0.0)
        if rate <= 0:
            return None
        crashed = self.crashed_points()
        # With first hits on, budget is kept back for the armed points not hit yet.
        unhit = (
            {p for p, r in self.rates.items() if r > 0} - set(crashed) if self.first_hits else set()
        )
        draw = random.Random(f"{self.seed}:{point}:{key}:{len(crashed)}")  # noqa: S311 - simulation
        if point in unhit:
            crash = len(crashed) < self.budget
        else:
            crash = len(crashed) + len(unhit) < self.budget and draw.random() < rate
        if not crash:
            return None
        return SCOPES[draw.random() < 0.5]


@cache
def _plan() -> CrashPlan | None:
    return CrashPlan.from_env(os.environ)


def crash_point(point: str, key: str) -> None:
    """SIGKILL this process (or its group) here if the drill's plan says so; otherwise nothing."""
    assert point in POINTS, point
    plan = _plan()
    if plan is None:
        return
    scope = plan.decide(point, key)
    if scope is None:
        return
    line = f"{time.time():.3f} {point} {scope} {os.getpid()} {key}\n"
    with open(plan.log_path, "a", encoding="utf-8") as log:
        log.write(line)
    group = os.getpgrp()
    # The drill starts every process it may crash as the leader of a new session (its group is
    # its session). Any other group (a shell's job, pid 1's) is never taken down: the process
    # alone is.
    if scope == "group" and group > 1 and group == os.getsid(0):
        os.killpg(group, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
