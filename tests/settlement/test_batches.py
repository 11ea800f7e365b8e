"""Settlement batches: one per seller, currency and period, made set-wise from the ledger's log;
their lines are ledger transfers and sum exactly to the net; idempotent and safe under overlap."""

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ledger import chart
from ledger.selectors import account_balance
from ledger.services import TransferRequest, create_transfers
from settlement.batches import batch_lines, create_batches
from settlement.maturation import mature_due
from settlement.models import SettlementBatch
from tests.accounts.factories import SellerFactory
from tests.settlement.factories import released

pytestmark = pytest.mark.django_db

PLANS = {"standard": {"bps": 0, "hold_days": 0}}
MONDAY = dt.date(2026, 12, 7)


def available(seller, currency="EUR"):
    account = chart.account(currency=currency, code=chart.seller_available(seller.pk))
    return account_balance(account).credit_balance


def sale(seller, net_minor, currency="EUR"):
    """A release whose hold has already elapsed, matured into available."""
    released(seller, net_minor=net_minor, currency=currency)
    mature_due()


def refund_from_available(seller, amount_minor, currency="EUR"):
    create_transfers(
        [
            TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=chart.account(
                    currency=currency, code=chart.seller_available(seller.pk)
                ),
                credit_account_id=chart.account(currency=currency, code=chart.external("test_psp")),
                amount_minor=amount_minor,
                currency=currency,
                reason="refund_posted",
            )
        ]
    )


def assert_lines_sum_to_net(batch):
    lines = batch_lines(batch)
    assert len(lines) == batch.line_count
    assert sum(line.amount_minor for line in lines) == batch.net_minor


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_daily_seller_gets_one_batch_per_day_whose_lines_sum_to_its_net():
    seller = SellerFactory()
    sale(seller, 5_000)
    sale(seller, 2_500)
    refund_from_available(seller, 1_000)

    (batch,) = create_batches(day=MONDAY)
    assert (batch.seller_id, batch.currency, batch.net_minor) == (seller.pk, "EUR", 6_500)
    assert (batch.credits_minor, batch.debits_minor, batch.line_count) == (7_500, 1_000, 3)
    assert_lines_sum_to_net(batch)
    assert {line.reason for line in batch_lines(batch)} == {"balance_matured", "refund_posted"}

    # Run again the same day: nothing new. The next day: only what came since.
    assert create_batches(day=MONDAY) == []
    assert create_batches(day=MONDAY + dt.timedelta(days=1)) == []
    sale(seller, 300)
    (second,) = create_batches(day=MONDAY + dt.timedelta(days=1))
    assert second.net_minor == 300
    assert second.log_from == batch.log_to
    assert second.period_start == MONDAY


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_weekly_and_monthly_sellers_are_batched_on_their_day_only():
    weekly = SellerFactory(profile__settlement_schedule="weekly", profile__payout_weekday=3)
    monthly = SellerFactory(profile__settlement_schedule="monthly", profile__payout_monthday=31)
    manual = SellerFactory(profile__settlement_schedule="manual")
    for seller in (weekly, monthly, manual):
        sale(seller, 1_000)

    assert create_batches(day=MONDAY) == []
    assert [b.seller_id for b in create_batches(day=dt.date(2026, 12, 9))] == [weekly.pk]
    # February has no 31st: its last day stands in.
    assert [b.seller_id for b in create_batches(day=dt.date(2027, 2, 28))] == [monthly.pk]
    # A manual seller is paid only when asked.
    assert [b.seller_id for b in create_batches(day=MONDAY, sellers=[manual.pk])] == [manual.pk]


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_below_the_minimum_payout_the_money_waits_for_the_next_period():
    # Paid in each sale's own currency (not converted): a batch in JPY too.
    seller = SellerFactory(profile__minimum_payout_minor=5_000, profile__paid_in_sale_currency=True)
    sale(seller, 3_000)
    sale(seller, 700, currency="JPY")  # the minimum is in the settlement currency (EUR) only
    assert [b.currency for b in create_batches(day=MONDAY)] == ["JPY"]
    sale(seller, 2_000)
    (batch,) = create_batches(day=MONDAY + dt.timedelta(days=1))
    assert (batch.net_minor, batch.period_start) == (5_000, None)
    assert_lines_sum_to_net(batch)


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_negative_balance_is_recovered_from_later_settlements_first():
    seller = SellerFactory()
    sale(seller, 1_000)
    (first,) = create_batches(day=MONDAY)
    # After that batch, a refund finds the balance short: available goes below zero.
    refund_from_available(seller, 1_500)
    assert available(seller) == -500
    assert create_batches(day=MONDAY + dt.timedelta(days=1)) == []
    sale(seller, 400)
    assert create_batches(day=MONDAY + dt.timedelta(days=2)) == []
    sale(seller, 1_300)
    (recovered,) = create_batches(day=MONDAY + dt.timedelta(days=3))
    # The shortfall is taken first: -1,500 + 400 + 1,300.
    assert (recovered.net_minor, recovered.line_count) == (200, 3)
    assert_lines_sum_to_net(recovered)
    assert recovered.log_from == first.log_to


@pytest.mark.django_db(transaction=True)
@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_two_overlapping_runs_create_each_batch_once():
    sellers = [SellerFactory(profile__paid_in_sale_currency=True) for _ in range(6)]
    for seller in sellers:
        sale(seller, 1_000)
        sale(seller, 5, currency="JPY")
    barrier = threading.Barrier(2)
    made, errors = [], []

    def run(day):
        try:
            barrier.wait()
            made.extend(create_batches(day=day))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    # The same day twice, and (as a manual payout asked for at that moment would) another day.
    threads = [threading.Thread(target=run, args=(MONDAY,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(made) == 12
    assert SettlementBatch.objects.count() == 12
    assert create_batches(day=MONDAY + dt.timedelta(days=1)) == []


amounts = st.lists(
    st.tuples(st.sampled_from(["sale", "refund"]), st.integers(min_value=1, max_value=10**9)),
    min_size=1,
    max_size=12,
)


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moves=amounts, currency=st.sampled_from(["EUR", "JPY", "KWD"]))
def test_over_random_inputs_batches_sum_exactly_to_what_was_available(moves, currency):
    seller = SellerFactory(profile__settlement_currency=currency)
    day = MONDAY
    paid = 0
    for kind, amount in moves:
        if kind == "sale":
            sale(seller, amount, currency=currency)
        else:
            refund_from_available(seller, amount, currency=currency)
        for batch in create_batches(day=day):
            assert batch.currency == currency
            assert_lines_sum_to_net(batch)
            paid += batch.net_minor
        day += dt.timedelta(days=1)
    # Everything that came in is either in a batch or still waiting (a negative rest included).
    net = sum(a if k == "sale" else -a for k, a in moves)
    waiting = net - paid
    assert available(seller, currency) == net  # no payout has taken anything in this test
    # With no minimum, anything positive was batched by the last run: what waits is a shortfall.
    assert waiting <= 0
