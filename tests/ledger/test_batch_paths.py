"""Linked batches against the limits, in request order: a batch far from its limits posts every
transfer with times a microsecond apart; a credit that comes first covers a later debit; a debit
that comes first is refused even if a later credit would cover it."""

import datetime as dt
import itertools

import pytest

from ledger.errors import BatchFailed
from ledger.models import Transfer
from ledger.services import create_transfers
from tests.ledger.factories import DEBIT_LIMIT, account, balances, request

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded():
    source = account("external:bank")
    limited = [account(f"seller:{i}:available", limit=DEBIT_LIMIT) for i in range(3)]
    create_transfers([request(source, a, 1_000) for a in limited])
    return source, limited


def test_a_batch_far_from_its_limits_posts_every_transfer_in_order(funded):
    source, (a, b, c) = funded
    requests = [
        request(a, b, 300),
        request(b, c, 200, kind="pending", timeout_s=60),
        request(c, a, 50),
        request(a, source, 100, kind="pending"),
    ]

    transfers = create_transfers(requests)

    assert [t.id for t in transfers] == [r.id for r in requests]
    times = [t.created_at for t in transfers]
    assert [later - earlier for earlier, later in itertools.pairwise(times)] == [
        dt.timedelta(microseconds=1)
    ] * 3
    assert transfers[1].timeout_at == times[1] + dt.timedelta(seconds=60)
    assert transfers[3].timeout_at is None
    stored = {t.id: t for t in Transfer.objects.filter(id__in=[r.id for r in requests])}
    assert [stored[r.id].created_at for r in requests] == times
    # (debits_pending, debits_posted, credits_pending, credits_posted)
    assert balances(a, b, c) == [(100, 300, 0, 1_050), (200, 0, 0, 1_300), (0, 50, 200, 1_000)]


def test_a_credit_that_comes_first_lets_a_later_debit_through(funded):
    # Taking every debit and no credit, a would cross its limit: the set-wise check cannot
    # prove the batch safe, and the request-by-request pass finds it is.
    source, (a, b, _) = funded
    create_transfers([request(a, b, 1_000)])

    create_transfers([request(b, a, 500), request(a, source, 500)])

    assert balances(a) == [(0, 1_500, 0, 1_500)]


def test_a_debit_that_comes_first_is_refused_even_if_a_later_credit_covers_it(funded):
    source, (a, b, _) = funded
    create_transfers([request(a, b, 1_000)])
    before = balances(a, b)

    with pytest.raises(BatchFailed) as failed:
        create_transfers([request(a, source, 500), request(b, a, 500)])

    assert (failed.value.index, failed.value.reason.code) == (0, "exceeds_limit")
    assert balances(a, b) == before
