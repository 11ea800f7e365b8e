"""The payout fault drill, CI-sized: `manage.py settlement_drill` with 40 payouts and a fixed seed
on real Celery workers, Redis, the platform's web server and the sandbox bank with its faults on,
processes SIGKILLed at every crash point and on a schedule. It runs on this test's database
(--database-url), so what it left behind is checked here too, then flushed."""

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from ledger import chart
from ledger.selectors import account_balance
from settlement.drill.database import DrillDatabase
from settlement.models import Payout, PayoutStatus
from settlement.payouts.crash_points import POINTS

pytestmark = [
    pytest.mark.integration,
    pytest.mark.sandbox_bank,
    pytest.mark.django_db(transaction=True),
]

SEED = 15
PAYOUTS = 40
TIME_LIMIT_S = 170


def run_drill(database_url: str) -> subprocess.CompletedProcess:
    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "manage.py",
        "settlement_drill",
        "--payouts",
        str(PAYOUTS),
        "--seed",
        str(SEED),
        "--deadline",
        "100",
        "--database-url",
        database_url,
    ]
    return subprocess.run(
        command,
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
        check=False,
    )


def test_the_drill_pays_every_batch_at_most_once_through_faults_and_kills():
    url = DrillDatabase(dict(connection.settings_dict), created=False).url
    connection.close()  # the drill and its processes have the database to themselves

    finished = run_drill(url)

    assert finished.returncode == 0, finished.stderr[-6000:]
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    assert list(summary) == [
        "payouts",
        "paid_once",
        "paid_twice",
        "lost",
        "stuck",
        "bank_total_minor",
        "ledger_paid_minor",
        "ledger_verify",
        "seed",
    ]
    assert summary["seed"] == SEED
    assert (summary["paid_twice"], summary["lost"], summary["stuck"]) == (0, 0, 0)
    assert summary["ledger_verify"] == "clean"
    assert summary["bank_total_minor"] == summary["ledger_paid_minor"] > 0
    # Every crash point was hit at least once (the drill arms each for its first arrival).
    crash_line = next(line for line in finished.stderr.splitlines() if "crash points hit" in line)
    for point in POINTS:
        assert f"'{point}'" in crash_line, crash_line

    # What the drill left in this database agrees with its summary line: every payout final,
    # each outcome seen, nothing left in transit, and the ledger's paid-out equal to the paid rows.
    statuses = {status: Payout.objects.filter(status=status).count() for status in PayoutStatus}
    assert sum(statuses.values()) == summary["payouts"] >= PAYOUTS
    assert statuses[PayoutStatus.CREATED] == statuses[PayoutStatus.SUBMITTED] == 0
    assert statuses[PayoutStatus.PAID] == summary["paid_once"] > 0
    assert statuses[PayoutStatus.FAILED] > 0 and statuses[PayoutStatus.RETURNED] > 0
    paid_rows = sum(
        Payout.objects.filter(status=PayoutStatus.PAID).values_list("amount_minor", flat=True)
    )
    bank = account_balance(chart.account(currency="EUR", code=chart.BANK))
    transit = account_balance(chart.account(currency="EUR", code=chart.PAYOUTS_IN_TRANSIT))
    assert bank.credit_balance == paid_rows == summary["ledger_paid_minor"]
    assert (transit.credit_balance, transit.credits_pending, transit.debits_pending) == (0, 0, 0)
