"""A request whose database connection dies answers 503 with Retry-After in the one error shape
(never a 500), and the Idempotency-Key it claimed does not block the client's retry: the claim is
tied to the claimant's connection (a PostgreSQL session advisory lock), so it is free as soon as
that connection is gone, and held for as long as it lives."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Role
from core.idempotency import idempotency_key_claim, lock_id, request_fingerprint, scope_digest
from core.models import IdempotencyKey
from tests.api.test_idempotency import EFFECTS, effects
from tests.db_faults import KillAt, finished_request, other_session
from tests.payments.pay_factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.api.urls")]

BODY = b'{"note":"a"}'


def client() -> APIClient:
    # A 500 comes back as a response (and fails the assertions) instead of being raised.
    return APIClient(raise_request_exception=False)


def post(api, key: str | None = None, kill_at: int = 0):
    killer = KillAt(kill_at)
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    with connection.execute_wrapper(killer):
        response = api.post(EFFECTS, {"note": "a"}, format="json", **extra)
    finished_request()
    assert killer.killed == bool(kill_at)
    return response


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "1"
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert error["field"] is None
    assert "Idempotency-Key" in error["message"]


def test_a_connection_killed_in_a_view_is_a_503_with_retry_after_and_nothing_written():
    assert_unavailable(post(client(), kill_at=1))
    assert effects() == 0


def test_a_connection_killed_while_claiming_the_key_is_a_503_and_the_retry_runs():
    api = client()
    assert_unavailable(post(api, "claim-dies", kill_at=1))
    assert effects() == 0 and not IdempotencyKey.objects.exists()

    retry = post(api, "claim-dies")
    assert retry.status_code == 201
    assert effects() == 1


def test_a_connection_killed_in_the_view_frees_the_key_for_the_retry_at_once():
    api = client()
    assert_unavailable(post(api, "view-dies", kill_at=2))  # 1: the claim; 2: the view's insert
    retry = post(api, "view-dies")
    assert retry.status_code == 201, retry.content
    assert not retry.has_header("Idempotent-Replayed")
    assert effects() == 1
    assert post(api, "view-dies").json() == retry.json()  # and now it is kept


def test_a_connection_killed_on_a_page_is_a_503_not_a_500():
    buyer = make_user(Role.BUYER)
    page = Client(raise_request_exception=False)
    page.force_login(buyer)
    killer = KillAt(1)  # the session's read
    with connection.execute_wrapper(killer):
        response = page.get(reverse("payments:orders"))
    finished_request()
    assert killer.killed
    assert response.status_code == 503
    assert response["Retry-After"] == "1"


def _claim_in_another_connection(*, hold: threading.Event | None, claimed: threading.Event):
    """A claimant on its own connection: claims the key of BODY, then dies (its connection closed
    without answering) at once, or once `hold` is set."""
    try:
        idempotency_key_claim(
            key="orphan",
            principal="anonymous",
            method="POST",
            path=EFFECTS,
            fingerprint=request_fingerprint(method="POST", full_path=EFFECTS, body=BODY),
        )
        claimed.set()
        if hold is not None:
            hold.wait(timeout=30)
    finally:
        connections.close_all()  # the process dies: its session, and the lock, go with it


def retried_until_free(key: str, within_s: float = 10.0):
    """A careful client's retry: the server ends a closed session's backend (and frees its lock)
    a moment after the client hangs up, so "in flight" may be answered once or twice more."""
    deadline = time.monotonic() + within_s
    while True:
        answer = post(client(), key)
        in_flight = (
            answer.status_code == 409
            and answer.json()["error"]["code"] == "idempotency_key_in_flight"
        )
        if not in_flight or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_a_claim_whose_claimant_is_alive_is_in_flight_and_free_once_it_dies():
    hold, claimed = threading.Event(), threading.Event()
    claimant = threading.Thread(target=_claim_in_another_connection, args=(), kwargs={
        "hold": hold, "claimed": claimed,
    })  # fmt: skip
    claimant.start()
    try:
        assert claimed.wait(timeout=30)
        busy = post(client(), "orphan")
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "idempotency_key_in_flight"
        assert effects() == 0
    finally:
        hold.set()
        claimant.join(timeout=30)

    retry = retried_until_free("orphan")  # seconds later, not after a 300 s lease
    assert retry.status_code == 201, retry.content
    assert effects() == 1
    assert IdempotencyKey.objects.get().status == "completed"


def test_a_lock_held_by_another_session_keeps_the_key_in_flight():
    digest = scope_digest(principal="anonymous", method="POST", path=EFFECTS, key="held")
    IdempotencyKey.objects.create(
        scope_digest=digest,
        key="held",
        principal="anonymous",
        method="POST",
        path=EFFECTS,
        request_fingerprint=request_fingerprint(method="POST", full_path=EFFECTS, body=BODY),
    )
    with other_session() as session:
        session.execute("SELECT pg_advisory_lock(%s)", [lock_id(digest)])
        assert post(client(), "held").status_code == 409
    assert retried_until_free("held").status_code == 201
    assert effects() == 1
