"""The transfer id is the idempotency key: the same request again returns the stored transfer."""

import pytest

from ledger.models import Transfer
from ledger.selectors import account_balance
from ledger.services import create_transfer, create_transfers
from tests.ledger.factories import DEBIT_LIMIT, account, close, request, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    source = account("external:card")
    escrow = account("platform:escrow", limit=DEBIT_LIMIT)
    create_transfer(request(source, escrow, 1_000, reason="fund"))
    return source, escrow


def fields(transfer: Transfer) -> dict:
    return {f.attname: getattr(transfer, f.attname) for f in Transfer._meta.concrete_fields}


def assert_replayed(req, first: Transfer):
    before = snapshot()
    again = create_transfer(req)
    assert snapshot() == before
    assert fields(again) == fields(first)
    return again


def test_returned_transfer_matches_the_stored_row(pair):
    source, escrow = pair
    created = create_transfer(
        request(
            source,
            escrow,
            10,
            kind="pending",
            timeout_s=60,
            reference="order:1",
            metadata={"k": [1, "b"]},
        )
    )
    stored = Transfer.objects.get(id=created.id)
    assert fields(created) == fields(stored)


@pytest.mark.parametrize("kind", ["posted", "pending"])
def test_same_request_twice_takes_effect_once(pair, kind):
    source, escrow = pair
    req = request(
        source,
        escrow,
        10,
        kind=kind,
        timeout_s=60 if kind == "pending" else None,
        metadata={"a": 1, "b": 2},
    )
    first = create_transfer(req)
    assert_replayed(req, first)
    # Metadata with its keys in another order is the same metadata.
    req.metadata = {"b": 2, "a": 1}
    assert_replayed(req, first)


@pytest.mark.parametrize("amount", [None, 60])
def test_post_replay_after_the_pending_closed(pair, amount):
    source, escrow = pair
    pending = create_transfer(request(source, escrow, 100, kind="pending"))
    post = close(pending, "post_pending", amount)
    first = create_transfer(post)
    # The pending is closed now, yet the same post is a replay, not PendingAlreadyClosed.
    assert_replayed(post, first)


def test_full_post_given_as_explicit_amount_is_the_same_request(pair):
    source, escrow = pair
    pending = create_transfer(request(source, escrow, 100, kind="pending"))
    post = close(pending, "post_pending", None)
    first = create_transfer(post)
    post.amount_minor = 100
    assert_replayed(post, first)


def test_void_replay_ignores_amount(pair):
    source, escrow = pair
    pending = create_transfer(request(source, escrow, 100, kind="pending"))
    void = close(pending, "void_pending")
    first = create_transfer(void)
    void.amount_minor = 5
    assert_replayed(void, first)


def test_replay_is_not_refused_by_a_limit_reached_since(pair):
    source, escrow = pair
    spend = request(escrow, source, 1_000)
    first = create_transfer(spend)
    assert account_balance(escrow.id).credit_balance == 0
    assert_replayed(spend, first)


def test_batch_replay_returns_the_same_rows(pair):
    source, escrow = pair
    other = account("platform:fees", limit=DEBIT_LIMIT)
    batch = [request(escrow, other, 100), request(other, source, 40)]
    first = create_transfers(batch)
    before = snapshot()
    again = create_transfers(batch)
    assert snapshot() == before
    assert [fields(t) for t in again] == [fields(t) for t in first]
    assert first[0].batch_id == first[1].batch_id is not None


def test_batch_mixing_replayed_and_new_transfers(pair):
    source, escrow = pair
    done = request(source, escrow, 10)
    first = create_transfer(done)
    new = request(escrow, source, 5)
    replayed, created = create_transfers([done, new])
    assert fields(replayed) == fields(first)
    assert created.amount_minor == 5
    assert account_balance(escrow.id).credit_balance == 1_005
