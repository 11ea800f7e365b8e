"""manage.py bench_settlement at a tiny scale, as a developer runs it: in its own scratch database
(created, migrated and dropped by the command), with the JSON last line and the checks of its
batches (one per seller and currency with money; nets equal to the available balances). Timings
are not asserted."""

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from core.postgresql.scratch import maintenance_connection

BASE_DIR = Path(__file__).resolve().parent.parent.parent
KEYS = {
    "p5_settle_vs_groupby",
    "p6_payouts_vs_noop",
    "settle_s",
    "groupby_s",
    "payouts_per_s",
    "noop_per_s",
    "rows",
    "sellers",
    "quick",
}


# It starts the sandbox bank, gunicorn and a Celery worker: one xdist group with the other
# integration tests, so the two pytest workers do not run such stacks at once.
@pytest.mark.integration
def test_a_tiny_run_prints_one_json_line_whose_batches_check_out():
    scratch = f"bench_settlement_test_{uuid.uuid4().hex[:10]}"
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "bench_settlement",
            "--rows",
            "2000",
            "--sellers",
            "50",
            "--repeats",
            "1",
            "--payouts",
            "20",
            "--workers",
            "1",
            "--database",
            scratch,
        ],
        cwd=BASE_DIR,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert set(result) >= KEYS
    assert (result["rows"], result["sellers"], result["quick"]) == (2000, 50, False)
    # One batch per seller in its settlement currency, and one more for each fifth seller, who is
    # paid in each sale's currency and sells in two.
    assert result["batches"] == 60
    assert result["verified"] is True
    assert result["settle_s"] > 0 and result["groupby_s"] > 0 and result["p5_settle_vs_groupby"] > 0
    if result["p6_payouts_vs_noop"] is None:
        assert result["p6_reason"]  # the sandbox bank or Redis is missing, and it says so
        assert result["payouts_per_s"] is None
    else:
        assert result["payouts_per_s"] > 0 and result["noop_per_s"] > 0

    # The scratch database is gone; nothing else was touched.
    with maintenance_connection(connection.settings_dict) as server:
        left = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [scratch])
        assert left.fetchone() is None


def test_a_scratch_database_whose_name_does_not_say_bench_is_refused():
    """The scratch database is dropped and made again: a mistyped name never drops real data."""
    with pytest.raises(CommandError, match="says bench"):
        call_command("bench_settlement", "--database", "clearhouse", stdout=io.StringIO())
