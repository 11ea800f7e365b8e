"""The sandbox bank for `seed_demo`: the demo sellers' accounts, opened through the bank's own API.

The bank is a process of its own with its own database (var/sandbox_bank/), and the platform
reaches it over HTTP only. seed_demo runs before `make run` starts it (and may also run while it
is up), so `sandbox_bank_for_seeding` uses the running bank when one answers at SANDBOX_BANK_URL
and otherwise starts it for the length of the seeding with the very command the Procfile runs,
on the same database file: the accounts and the transfers the seeding makes are the bank's own
records, kept by the bank, and the bank `make run` starts next finds them there. Seeding through
the API (not by writing the bank's SQLite file) keeps the bank the one owner of its tables and
the accounts checked by its own rules (schwifty).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings

from settlement.gateways.base import BankError
from settlement.gateways.sandbox_operator import SandboxBankOperator

BASE_DIR = Path(settings.BASE_DIR)
START_LIMIT_S = 60
# The bank seeding starts clears and returns at once (a running bank keeps its own knobs).
SEEDING_BANK_ENV = {"SANDBOX_BANK_SETTLE_DELAY_MS": "0", "SANDBOX_BANK_RETURN_DELAY_MS": "0"}


def _answers(operator: SandboxBankOperator) -> bool:
    try:
        operator.faults()
    except BankError:
        return False
    return True


@contextlib.contextmanager
def sandbox_bank_for_seeding(
    out: Callable[[str], None] = lambda message: None,
) -> Iterator[SandboxBankOperator]:
    """An operator of a sandbox bank that answers: the running one, or one started here (and
    stopped on leaving) on the bank's configured address and database."""
    operator = SandboxBankOperator.from_settings()
    if _answers(operator):
        yield operator
        return
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_sandbox_bank"],
            cwd=BASE_DIR,
            env={**os.environ, **SEEDING_BANK_ENV},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + START_LIMIT_S
            while not _answers(operator):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    raise BankError(f"The sandbox bank did not start for seeding:\n{tail}")
                time.sleep(0.2)
            out(f"Started the sandbox bank for seeding ({settings.SANDBOX_BANK_URL})")
            yield operator
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)


def open_demo_bank_accounts(operator: SandboxBankOperator, accounts: list[dict[str, str]]) -> int:
    """Open these accounts (SandboxBankOperator.open_account's arguments) at the bank; one that
    exists with the same holder and currency is left as it is. Returns how many there are."""
    for account in accounts:
        operator.open_account(**account)
    return len(accounts)
