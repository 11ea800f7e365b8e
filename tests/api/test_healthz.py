"""GET /healthz: database, broker and worker; 200 when all are up, 503 naming what is down."""

import time
from unittest import mock

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import OperationalError
from django.test import override_settings

from core import health

pytestmark = pytest.mark.django_db


def fresh_heartbeat() -> None:
    health.write_worker_heartbeat(source="task", hostname="worker-1@test")


def stale_heartbeat() -> None:
    cache = caches[settings.WORKER_HEARTBEAT_CACHE]
    age_s = settings.WORKER_HEARTBEAT_MAX_AGE_S + 5
    cache.set(health.HEARTBEAT_KEY, {"at": time.time() - age_s, "hostname": "worker-1@test"})


@pytest.fixture(autouse=True)
def _no_heartbeat():
    health.clear_worker_heartbeat()
    yield
    health.clear_worker_heartbeat()


def test_all_up_is_200_ok(client):
    fresh_heartbeat()

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert set(body["checks"]) == {"database", "broker", "worker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["worker"]["hostname"] == "worker-1@test"
    assert "no-store" in response["Cache-Control"]


def test_broker_down_is_503_naming_the_broker(client):
    fresh_heartbeat()

    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:6390/0"):
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["down"]) == ("degraded", ["broker"])
    assert body["checks"]["broker"] == {"ok": False, "error": "OperationalError"}
    assert body["checks"]["database"]["ok"] and body["checks"]["worker"]["ok"]


def test_stale_heartbeat_is_503_naming_the_worker(client):
    stale_heartbeat()

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["worker"]
    worker = body["checks"]["worker"]
    assert (worker["ok"], worker["error"]) == (False, "stale_heartbeat")
    assert worker["age_s"] > settings.WORKER_HEARTBEAT_MAX_AGE_S


def test_no_heartbeat_at_all_is_503(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["error"] == "no_heartbeat"


def test_database_down_is_503_naming_the_database(client):
    fresh_heartbeat()
    broken = mock.Mock()
    broken.cursor.side_effect = OperationalError("connection refused")

    with mock.patch.object(health, "connection", broken):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["down"] == ["database"]
    assert response.json()["checks"]["database"] == {"ok": False, "error": "OperationalError"}


def test_filesystem_broker_is_up_when_its_folders_exist(client, tmp_path):
    fresh_heartbeat()
    queue = tmp_path / "queue"
    queue.mkdir()
    options = {"data_folder_in": str(queue), "data_folder_out": str(queue)}

    with override_settings(
        CELERY_BROKER_URL="filesystem://", CELERY_BROKER_TRANSPORT_OPTIONS=options
    ):
        up = client.get("/healthz")
    queue.rmdir()
    with override_settings(
        CELERY_BROKER_URL="filesystem://", CELERY_BROKER_TRANSPORT_OPTIONS=options
    ):
        down = client.get("/healthz")

    assert up.status_code == 200
    assert up.json()["checks"]["broker"]["transport"] == "filesystem"
    assert down.status_code == 503
    assert down.json()["down"] == ["broker"]


def test_only_get_and_head(client):
    assert client.post("/healthz").status_code == 405
