"""The two writes that commit without waiting for their WAL flush (the idempotency claim and the
sandbox processor's charge) turn synchronous_commit off for their own statement's transaction
only: never for the session, never for a caller's transaction."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.fast_sql import fetch_all
from core.idempotency import _CLAIM_ASYNC_SQL, idempotency_key_claim
from core.models import IdempotencyKey
from payments.providers.sandbox_card_sql import UPSERT_CHARGE_ASYNC

pytestmark = pytest.mark.django_db(transaction=True)


def synchronous_commit() -> str:
    return fetch_all("SHOW synchronous_commit", [])[0][0]


def claim(key: str):
    return idempotency_key_claim(
        key=key, principal="user:1", method="POST", path="/api/v1/payments/", fingerprint="f"
    )


def test_a_claim_in_autocommit_leaves_the_session_synchronous():
    assert synchronous_commit() == "on"
    with CaptureQueriesContext(connection) as queries:
        first = claim("k-1")
    assert "set_config('synchronous_commit', 'off', true)" in queries[0]["sql"]
    assert synchronous_commit() == "on"  # the setting ended with the claim's own transaction
    assert IdempotencyKey.objects.filter(pk=first.record.pk, status="in_flight").exists()
    assert type(claim("k-1")).__name__ == "InFlight"  # seen by the next request at once


def test_inside_a_callers_transaction_the_claim_leaves_its_commit_alone():
    with transaction.atomic():
        claim("k-2")
        assert synchronous_commit() == "on"  # the caller's commit still waits for the flush


def test_the_async_statements_really_set_it_for_their_transaction():
    # Run inside an explicit transaction to look: the setting is not optimised away.
    now = timezone.now()
    with transaction.atomic():
        fetch_all(_CLAIM_ASYNC_SQL, [3, "d" * 64, "k-3", "p", "POST", "/x", "f", now, now])
        assert synchronous_commit() == "off"
    assert synchronous_commit() == "on"
    with transaction.atomic():
        rows = fetch_all(
            UPSERT_CHARGE_ASYNC,
            ["ch_t", f"key-{uuid.uuid4()}", "tok", "visa", "4242", 100, "EUR", "authorized",
             0, "", None, now, now, ["processing_error"]],
        )  # fmt: skip
        assert rows and rows[0][1] == "authorized"
        assert synchronous_commit() == "off"
    assert synchronous_commit() == "on"
    assert connection.in_atomic_block is False
