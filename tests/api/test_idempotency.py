"""Idempotency-Key with Stripe's semantics, on every unsafe API request (core.api.idempotency)."""

import threading
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.db import DatabaseError, connections
from django.test import Client
from django.utils import timezone

from accounts.models import User
from core.idempotency import lock_id, request_fingerprint, scope_digest
from core.models import IdempotencyKey
from core.tasks import delete_expired_idempotency_keys
from tests.api.views import effect_control
from tests.db_faults import other_session

pytestmark = pytest.mark.urls("tests.api.urls")

EFFECTS = "/api/v1/test/effects"


def effects() -> int:
    return User.objects.filter(email__endswith="@effect.test").count()


def post(client, body: dict, key: str | None, **extra):
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(EFFECTS, body, format="json", **extra)


def in_flight_row(
    key: str, body: bytes, *, locked_at=None, principal="anonymous"
) -> IdempotencyKey:
    """The row a request still running would hold (as the client's JSON encoder writes the body)."""
    now = timezone.now()
    return IdempotencyKey.objects.create(
        scope_digest=scope_digest(principal=principal, method="POST", path=EFFECTS, key=key),
        key=key,
        principal=principal,
        method="POST",
        path=EFFECTS,
        request_fingerprint=request_fingerprint(method="POST", full_path=EFFECTS, body=body),
        created_at=now,
        locked_at=locked_at or now,
    )


@pytest.mark.django_db
class TestReplay:
    def test_same_key_same_body_replays_status_body_and_headers_once(self, api_client):
        key = str(uuid.uuid4())

        first = post(api_client, {"note": "a"}, key)
        second = post(api_client, {"note": "a"}, key)

        assert first.status_code == second.status_code == 201
        assert second.content == first.content
        assert second["Content-Type"] == first["Content-Type"] == "application/json"
        assert second["Location"] == first["Location"]
        assert second["Idempotent-Replayed"] == "true"
        assert not first.has_header("Idempotent-Replayed")
        assert effects() == 1
        record = IdempotencyKey.objects.get()
        assert (record.status, record.response_status, record.key) == ("completed", 201, key)

    def test_without_a_key_every_request_acts(self, api_client):
        post(api_client, {"note": "a"}, None)
        post(api_client, {"note": "a"}, None)

        assert effects() == 2
        assert not IdempotencyKey.objects.exists()

    def test_other_key_acts_again(self, api_client):
        post(api_client, {"note": "a"}, "key-1")
        post(api_client, {"note": "a"}, "key-2")

        assert effects() == 2

    def test_client_errors_are_kept_and_replayed(self, api_client):
        first = post(api_client, {"invalid": True}, "k-400")
        second = post(api_client, {"invalid": True}, "k-400")

        assert first.status_code == second.status_code == 400
        assert second.content == first.content
        assert second["Idempotent-Replayed"] == "true"

    def test_patch_and_delete_are_covered(self, api_client):
        first = api_client.patch(EFFECTS, {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="p")
        second = api_client.patch(EFFECTS, {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="p")
        post(api_client, {}, None)
        deleted = api_client.delete(EFFECTS, HTTP_IDEMPOTENCY_KEY="d")
        post(api_client, {}, None)
        deleted_again = api_client.delete(EFFECTS, HTTP_IDEMPOTENCY_KEY="d")

        assert second["Idempotent-Replayed"] == "true" and second.content == first.content
        assert deleted.json() == deleted_again.json() == {"deleted": 1}
        assert deleted_again["Idempotent-Replayed"] == "true"
        assert effects() == 1  # the second DELETE did not run

    def test_get_ignores_the_header(self, api_client):
        response = api_client.get("/api/v1/test/keys", HTTP_IDEMPOTENCY_KEY="g")

        assert response.status_code == 200
        assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
class TestRefusals:
    def test_same_key_other_body_is_422_and_does_nothing(self, api_client):
        post(api_client, {"note": "a"}, "k")

        response = post(api_client, {"note": "b"}, "k")

        assert response.status_code == 422
        assert response.json() == {
            "error": {
                "code": "idempotency_key_reused",
                "message": "This Idempotency-Key was used with a different request; "
                "use a new key for a new request.",
                "field": "Idempotency-Key",
            }
        }
        assert effects() == 1

    def test_same_key_other_query_string_is_422(self, api_client):
        api_client.post(EFFECTS + "?x=1", {}, format="json", HTTP_IDEMPOTENCY_KEY="q")

        response = api_client.post(EFFECTS + "?x=2", {}, format="json", HTTP_IDEMPOTENCY_KEY="q")

        assert response.status_code == 422
        assert effects() == 1

    def test_key_in_flight_is_409_and_does_nothing(self, api_client):
        row = in_flight_row("busy", b'{"note":"a"}')

        # Its claimant is alive: its connection holds the claim's lock.
        with other_session() as claimant:
            claimant.execute("SELECT pg_advisory_lock(%s)", [lock_id(row.scope_digest)])
            response = post(api_client, {"note": "a"}, "busy")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_key_in_flight"
        assert response.json()["error"]["field"] == "Idempotency-Key"
        assert effects() == 0
        assert IdempotencyKey.objects.get().status == "in_flight"

    @pytest.mark.parametrize(
        "key",
        ["", "   ", "x" * 256, "abc\x01def", "tab\there", "cl\u00e9"],
        ids=["empty", "blank", "too-long", "control", "tab", "non-ascii"],
    )
    def test_malformed_key_is_400_and_does_nothing(self, api_client, key):
        response = post(api_client, {"note": "a"}, key)

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_idempotency_key"
        assert response.json()["error"]["field"] == "Idempotency-Key"
        assert effects() == 0
        assert not IdempotencyKey.objects.exists()

    def test_longest_valid_key_is_accepted(self, api_client):
        response = post(api_client, {}, "k" * 255)

        assert response.status_code == 201


@pytest.mark.django_db
class TestReleasedAnswers:
    def test_5xx_is_not_kept_so_a_retry_acts(self, api_client):
        effect_control.fail_next = 1

        failed = post(api_client, {"note": "a"}, "retry-me")
        assert failed.status_code == 503
        assert not IdempotencyKey.objects.exists()
        assert effects() == 0

        retried = post(api_client, {"note": "a"}, "retry-me")

        assert retried.status_code == 201
        assert not retried.has_header("Idempotent-Replayed")
        assert effects() == 1

    def test_a_not_yet_answer_is_not_kept_so_a_retry_acts(self, api_client):
        first = api_client.post(
            "/api/v1/test/errors/not_yet", {}, format="json", HTTP_IDEMPOTENCY_KEY="later"
        )

        assert first.status_code == 409
        assert first.json()["error"]["code"] == "refund_in_progress"
        assert first["Retry-After"] == "5"
        assert not IdempotencyKey.objects.exists()
        second = api_client.post(
            "/api/v1/test/errors/not_yet", {}, format="json", HTTP_IDEMPOTENCY_KEY="later"
        )
        assert not second.has_header("Idempotent-Replayed")

    def test_a_final_conflict_is_kept(self, api_client):
        first = api_client.post(
            "/api/v1/test/errors/conflict", {}, format="json", HTTP_IDEMPOTENCY_KEY="final"
        )
        second = api_client.post(
            "/api/v1/test/errors/conflict", {}, format="json", HTTP_IDEMPOTENCY_KEY="final"
        )

        assert first.status_code == second.status_code == 409
        assert second["Idempotent-Replayed"] == "true"

    def test_403_is_not_kept(self, api_client):
        api_client.force_authenticate(User.objects.create_user(email="someone@example.test"))

        response = api_client.post(
            "/api/v1/test/forbidden", {}, format="json", HTTP_IDEMPOTENCY_KEY="f"
        )

        assert response.status_code == 403
        assert not IdempotencyKey.objects.exists()

    def test_unexpected_exception_releases_the_key(self):
        client = Client(raise_request_exception=False)

        response = client.post("/api/v1/test/errors/crash", HTTP_IDEMPOTENCY_KEY="boom")

        assert response.status_code == 500
        assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_a_failure_to_store_the_answer_still_returns_it(api_client):
    with mock.patch(
        "core.api.idempotency.idempotency_key_complete", side_effect=DatabaseError("gone")
    ):
        response = post(api_client, {"note": "a"}, "unstored")

    assert response.status_code == 201
    assert effects() == 1


@pytest.mark.django_db
class TestScope:
    def test_keys_are_per_user(self):
        alice, bob = Client(), Client()
        alice.force_login(User.objects.create_user(email="alice@example.test"))
        bob.force_login(User.objects.create_user(email="bob@example.test"))

        a = alice.post(
            EFFECTS, {"note": "x"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="same"
        )
        b = bob.post(
            EFFECTS, {"note": "x"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="same"
        )

        assert a.status_code == b.status_code == 201
        assert a.json()["user_id"] != b.json()["user_id"]
        assert effects() == 2
        principals = set(IdempotencyKey.objects.values_list("principal", flat=True))
        assert principals == {
            f"user:{User.objects.get(email=e).pk}"
            for e in ("alice@example.test", "bob@example.test")
        }

    def test_keys_are_per_authorization_header_which_is_not_stored(self, api_client):
        from accounts.models import User
        from accounts.services import api_key_create

        owner = User.objects.create_user("keys@example.com", "x-very-long-pass-1")
        _, key_one = api_key_create(owner=owner, name="one")
        _, key_two = api_key_create(owner=owner, name="two")
        post(api_client, {"note": "x"}, "same", HTTP_AUTHORIZATION=f"Bearer {key_one}")
        post(api_client, {"note": "x"}, "same", HTTP_AUTHORIZATION=f"Bearer {key_two}")
        replay = post(api_client, {"note": "x"}, "same", HTTP_AUTHORIZATION=f"Bearer {key_one}")

        assert replay["Idempotent-Replayed"] == "true"
        assert effects() == 2
        principals = list(IdempotencyKey.objects.values_list("principal", flat=True))
        assert len(set(principals)) == 2
        assert all(
            p.startswith("auth:") and key_one not in p and key_two not in p for p in principals
        )

    def test_keys_are_per_path(self, api_client):
        post(api_client, {}, "shared")
        other = api_client.patch(EFFECTS, {}, format="json", HTTP_IDEMPOTENCY_KEY="shared")

        assert other.status_code == 200
        assert not other.has_header("Idempotent-Replayed")


@pytest.mark.django_db
class TestExpiry:
    def test_task_deletes_keys_older_than_the_ttl_only(self, api_client):
        post(api_client, {}, "old")
        post(api_client, {}, "new")
        ttl = timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_S)
        IdempotencyKey.objects.filter(key="old").update(
            created_at=timezone.now() - ttl - timedelta(seconds=1)
        )

        deleted = delete_expired_idempotency_keys()

        assert deleted == 1
        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]

    def test_an_expired_key_not_yet_deleted_counts_as_unused(self, api_client):
        post(api_client, {"note": "a"}, "reuse")
        IdempotencyKey.objects.update(
            created_at=timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_S + 1)
        )

        response = post(api_client, {"note": "b"}, "reuse")

        assert response.status_code == 201
        assert not response.has_header("Idempotent-Replayed")
        assert effects() == 2
        assert IdempotencyKey.objects.get().request_fingerprint == request_fingerprint(
            method="POST", full_path=EFFECTS, body=b'{"note":"b"}'
        )

    def test_a_claim_whose_request_died_is_taken_over_at_once(self, api_client):
        # In flight, but no connection holds its lock: the claimant is gone.
        in_flight_row("orphan", b'{"note":"a"}', locked_at=timezone.now())

        response = post(api_client, {"note": "a"}, "orphan")

        assert response.status_code == 201
        assert effects() == 1
        assert IdempotencyKey.objects.get().status == "completed"


# --- Real concurrency: separate threads, separate PostgreSQL connections, committed rows ----------


def _threaded_post(results: list, index: int, key: str, body: dict) -> None:
    try:
        response = Client().post(
            EFFECTS, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
        )
        results[index] = response
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_request_runs_gets_409_then_the_replay():
    effect_control.hold = True
    results: list = [None]
    first = threading.Thread(target=_threaded_post, args=(results, 0, "held", {"note": "a"}))
    first.start()
    try:
        assert effect_control.entered.wait(timeout=30), "the first request never reached the view"

        retry = Client().post(
            EFFECTS, {"note": "a"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="held"
        )
        other = Client().post(
            EFFECTS, {"note": "b"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="held"
        )
        assert effects() == 0
    finally:
        effect_control.release.set()
        first.join(timeout=30)

    assert retry.status_code == 409
    assert retry.json()["error"]["code"] == "idempotency_key_in_flight"
    assert other.status_code == 422
    assert results[0].status_code == 201
    replay = Client().post(
        EFFECTS, {"note": "a"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="held"
    )
    assert replay.status_code == 201
    assert replay.content == results[0].content
    assert effects() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_have_exactly_one_effect():
    """Requests released together: the UNIQUE constraint lets one act; the rest get 409 or the replay."""
    count = 6
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        barrier.wait(timeout=30)
        _threaded_post(results, index, "burst", {"note": "same"})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(r is not None for r in results)
    originals = [
        r for r in results if r.status_code == 201 and not r.has_header("Idempotent-Replayed")
    ]
    replays = [r for r in results if r.status_code == 201 and r.has_header("Idempotent-Replayed")]
    in_flight = [r for r in results if r.status_code == 409]
    assert len(originals) == 1
    assert len(originals) + len(replays) + len(in_flight) == count
    assert all(r.content == originals[0].content for r in replays)
    assert effects() == 1
    assert IdempotencyKey.objects.get().status == "completed"
