"""A real Celery worker, through Redis, on the test database (see tests/integration/worker.py)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from core.models import IdempotencyKey
from core.tasks import delete_expired_idempotency_keys, healthcheck

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RESULT_TIMEOUT_S = 30


def test_healthcheck_task_runs_in_the_worker_on_the_test_database(celery_worker):
    report = healthcheck.delay().get(timeout=RESULT_TIMEOUT_S)

    assert report["status"] == "ok"
    assert report["database"] is True
    assert report["cache"] is True
    assert report["database_name"] == celery_worker.database_name
    assert report["database_name"].startswith("test_")
    assert report["hostname"] == celery_worker.nodename
    assert report["pid"] != celery_worker.process.pid  # ran in a pool process, not the parent


def test_healthz_is_200_with_the_worker_up(celery_worker, client):
    healthcheck.delay().get(timeout=RESULT_TIMEOUT_S)

    response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["broker"]["transport"] == "redis"
    assert body["checks"]["worker"]["ok"] is True


def test_the_worker_sees_committed_rows_and_deletes_expired_keys(celery_worker):
    old = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_S + 60)
    for key, created_at in (("old", old), ("new", timezone.now())):
        IdempotencyKey.objects.create(
            scope_digest=key.ljust(64, "0"),
            key=key,
            principal="anonymous",
            method="POST",
            path="/api/v1/x",
            request_fingerprint="f" * 64,
            created_at=created_at,
        )

    deleted = delete_expired_idempotency_keys.delay().get(timeout=RESULT_TIMEOUT_S)

    assert deleted == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
