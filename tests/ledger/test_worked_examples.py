"""Worked examples on the chart of accounts (ARCHITECTURE.md), with exact balances after each step.

Balances are (debits_pending, debits_posted, credits_pending, credits_posted).
"""

import pytest

from ledger.errors import BatchFailed, ExceedsLimit
from ledger.selectors import account_balance, trial_balance
from ledger.services import create_transfer, create_transfers, ledger_fold_deltas
from tests.ledger.factories import DEBIT_LIMIT, account, balances, close, request, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def chart():
    return {
        "card": account("external:card"),
        "bank": account("external:bank"),
        "escrow": account("platform:escrow", limit=DEBIT_LIMIT),
        "fees": account("platform:fees", limit=DEBIT_LIMIT),
        "in_transit": account("platform:payouts_in_transit", limit=DEBIT_LIMIT),
        "seller_pending": account("seller:7:pending", limit=DEBIT_LIMIT),
        "seller_available": account("seller:7:available", limit=DEBIT_LIMIT),
    }


def assert_balanced():
    for totals in trial_balance().values():
        assert totals.net_posted == 0
        assert totals.net_pending == 0


def capture(chart, amount=10_000):
    authorised = create_transfer(
        request(chart["card"], chart["escrow"], amount, kind="pending", reason="capture")
    )
    create_transfer(close(authorised, "post_pending", reason="capture"))


def release(chart):
    """Buyer confirms: escrow -> seller pending + platform fee, linked."""
    return create_transfers(
        [
            request(chart["escrow"], chart["seller_pending"], 9_500, reason="release"),
            request(chart["escrow"], chart["fees"], 500, reason="fee"),
        ]
    )


def test_escrow_capture(chart):
    # Given an authorisation held as a pending transfer
    authorised = create_transfer(
        request(chart["card"], chart["escrow"], 10_000, kind="pending", reason="capture")
    )
    assert balances(chart["card"], chart["escrow"]) == [(10_000, 0, 0, 0), (0, 0, 10_000, 0)]
    # The pending credit is not yet spendable.
    assert account_balance(chart["escrow"].id).credit_balance == 0

    # When it is captured
    posted = create_transfer(close(authorised, "post_pending", reason="capture"))

    # Then the whole amount moves from pending to posted
    assert posted.amount_minor == 10_000
    assert balances(chart["card"], chart["escrow"]) == [(0, 10_000, 0, 0), (0, 0, 0, 10_000)]
    assert account_balance(chart["escrow"].id).credit_balance == 10_000
    assert_balanced()


def test_partial_capture_releases_the_rest(chart):
    authorised = create_transfer(
        request(chart["card"], chart["escrow"], 10_000, kind="pending", reason="capture")
    )
    posted = create_transfer(close(authorised, "post_pending", 6_000, reason="capture"))
    assert posted.amount_minor == 6_000
    assert balances(chart["card"], chart["escrow"]) == [(0, 6_000, 0, 0), (0, 0, 0, 6_000)]
    assert_balanced()


def test_release_with_fee_is_one_linked_batch(chart):
    capture(chart)

    released, fee = release(chart)

    assert released.batch_id == fee.batch_id is not None
    assert balances(chart["escrow"], chart["seller_pending"], chart["fees"]) == [
        (0, 10_000, 0, 10_000),
        (0, 0, 0, 9_500),
        (0, 0, 0, 500),
    ]
    assert account_balance(chart["escrow"].id).credit_balance == 0
    assert_balanced()


def test_release_larger_than_escrow_is_refused_whole(chart):
    capture(chart, amount=9_800)
    before = snapshot()

    with pytest.raises(BatchFailed) as failure:
        release(chart)  # 9,500 + 500 > 9,800: the fee leg crosses the escrow's limit

    assert failure.value.index == 1
    assert isinstance(failure.value.reason, ExceedsLimit)
    assert failure.value.reason.account_code == "platform:escrow"
    assert snapshot() == before


def test_refund_after_release(chart):
    capture(chart)
    release(chart)
    create_transfer(
        request(chart["seller_pending"], chart["seller_available"], 9_500, reason="hold_elapsed")
    )

    # The refund takes the money back from where it now is, then returns it to the card.
    create_transfers(
        [
            request(chart["seller_available"], chart["escrow"], 9_500, reason="refund"),
            request(chart["fees"], chart["escrow"], 500, reason="refund_fee"),
            request(chart["escrow"], chart["card"], 10_000, reason="refund"),
        ]
    )

    assert balances(
        chart["card"],
        chart["escrow"],
        chart["seller_pending"],
        chart["seller_available"],
        chart["fees"],
    ) == [
        (0, 10_000, 0, 10_000),
        (0, 20_000, 0, 20_000),
        (0, 9_500, 0, 9_500),
        (0, 9_500, 0, 9_500),
        (0, 500, 0, 500),
    ]
    for name in ("card", "escrow", "seller_pending", "seller_available", "fees"):
        assert account_balance(chart[name].id).credit_balance == 0
    assert_balanced()


def test_refund_beyond_the_seller_balance_names_the_account(chart):
    capture(chart)
    release(chart)
    create_transfer(
        request(chart["seller_pending"], chart["seller_available"], 9_500, reason="hold_elapsed")
    )
    before = snapshot()

    with pytest.raises(ExceedsLimit) as failure:
        create_transfer(request(chart["seller_available"], chart["escrow"], 9_501, reason="refund"))

    assert failure.value.account_code == "seller:7:available"
    assert "seller:7:available" in failure.value.message
    assert snapshot() == before


def fund_seller(chart):
    capture(chart)
    release(chart)
    create_transfer(
        request(chart["seller_pending"], chart["seller_available"], 9_500, reason="hold_elapsed")
    )


def test_payout_paid(chart):
    fund_seller(chart)

    # The payout is held while the bank works on it.
    held = create_transfer(
        request(
            chart["seller_available"], chart["in_transit"], 9_500, kind="pending", reason="payout"
        )
    )
    assert balances(chart["seller_available"], chart["in_transit"]) == [
        (9_500, 0, 0, 9_500),
        (0, 0, 9_500, 0),
    ]
    assert account_balance(chart["seller_available"].id).credit_balance_available == 0
    # Nothing more can be paid out while it is held.
    with pytest.raises(ExceedsLimit):
        create_transfer(request(chart["seller_available"], chart["in_transit"], 1, reason="payout"))

    # The bank pays: post, then the money leaves for the bank.
    create_transfer(close(held, "post_pending", reason="payout"))
    create_transfer(request(chart["in_transit"], chart["bank"], 9_500, reason="bank_paid"))

    assert balances(chart["seller_available"], chart["in_transit"], chart["bank"]) == [
        (0, 9_500, 0, 9_500),
        (0, 9_500, 0, 9_500),
        (0, 0, 0, 9_500),
    ]
    assert account_balance(chart["bank"].id).credit_balance == 9_500
    assert_balanced()


def test_payout_returned_is_voided(chart):
    fund_seller(chart)
    held = create_transfer(
        request(
            chart["seller_available"], chart["in_transit"], 9_500, kind="pending", reason="payout"
        )
    )

    void = create_transfer(close(held, "void_pending", reason="payout_returned"))

    assert void.amount_minor == 9_500  # the void records what it released
    assert balances(chart["seller_available"], chart["in_transit"]) == [
        (0, 0, 0, 9_500),
        (0, 0, 0, 0),
    ]
    assert account_balance(chart["seller_available"].id).credit_balance_available == 9_500
    assert_balanced()


def test_folding_deltas_keeps_every_balance(chart):
    fund_seller(chart)
    before = balances(*chart.values())

    assert ledger_fold_deltas() > 0

    assert balances(*chart.values()) == before
    assert ledger_fold_deltas() == 0
    assert_balanced()
