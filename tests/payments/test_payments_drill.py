"""The payments fault drill, CI-sized: `manage.py payments_drill` for 15 s with two clients and a
fixed seed on gunicorn, a real Celery worker and beat, Redis and PostgreSQL, while backends are
killed every few seconds and the worker is SIGKILLed once. It runs on this test's database
(--database-url), so what it left behind is checked here too, then flushed."""

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from core.postgresql.scratch import database_url
from payments.models import Payment
from payments.providers.models import SandboxCardCharge

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SEED = 14
TIME_LIMIT_S = 400


def test_the_drill_answers_every_client_and_charges_every_payment_once():
    from django.conf import settings

    url = database_url(connection.settings_dict)
    connection.close()  # the drill and its processes have the database to themselves
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "manage.py", "payments_drill", "--seconds", "15", "--threads", "2"]
    command += ["--seed", str(SEED), "--database-url", url]
    finished = subprocess.run(
        command,
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr[-6000:]
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    assert list(summary) == [
        "requests",
        "http_500",
        "clients_without_answer",
        "paid_twice",
        "stuck",
        "ledger_verify",
    ]
    assert summary["requests"] > 0
    assert summary["http_500"] == summary["clients_without_answer"] == 0
    assert summary["paid_twice"] == summary["stuck"] == 0
    assert summary["ledger_verify"] == "clean"
    assert "backends killed" in finished.stderr and "SIGKILL the Celery worker" in finished.stderr

    # What it left here agrees: payments final, each captured one charged once, for its amount.
    assert Payment.objects.filter(status="captured").exists()
    assert not Payment.objects.filter(status__in=["created", "authorized"]).exists()
    for payment in Payment.objects.filter(status="captured"):
        charge = SandboxCardCharge.objects.get(idempotency_key=f"payment:{payment.id}:authorize")
        assert charge.captured_minor == payment.amount_minor
