"""Sellers' daily totals (the dashboard's charts): summed from the ledger's log by a set-based job,
each log entry exactly once, per seller, day and currency."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from ledger import chart
from ledger.seals import log_size
from ledger.services import TransferRequest, create_transfers
from settlement.batches import bring_log_up_to_date
from settlement.dashboard.daily_totals import daily_totals_refresh
from settlement.dashboard.models import LogCursor, SellerDailyTotal
from tests.accounts.factories import SellerFactory
from tests.settlement.dashboard_fixtures import captured, sold

pytestmark = pytest.mark.django_db


def refund_paid(sub_order, amount_minor: int) -> None:
    """A refund of the sub-order to the buyer from escrow: reserved, then paid (as refunds post)."""
    currency = sub_order.currency
    common = {
        "debit_account_id": chart.account(currency=currency, code=chart.ESCROW),
        "credit_account_id": chart.account(currency=currency, code=chart.external("test_psp")),
        "amount_minor": amount_minor,
        "currency": currency,
        "metadata": {"order": str(sub_order.order_id), "sub_order": sub_order.pk},
    }
    reserve = uuid.uuid4()
    create_transfers(
        [TransferRequest(id=reserve, kind="pending", reason="refund_reserved", **common)]
    )
    create_transfers(
        [
            TransferRequest(
                id=uuid.uuid4(),
                kind="post_pending",
                pending_id=reserve,
                reason="refund_paid",
                **common,
            )
        ]
    )


def totals(seller) -> dict[str, tuple]:
    return {
        row.currency: (
            row.sales_minor,
            row.sales_count,
            row.fees_minor,
            row.refunds_minor,
            row.refunds_count,
        )
        for row in SellerDailyTotal.objects.filter(seller=seller, day=timezone.now().date())
    }


def test_sales_fees_and_refunds_are_summed_per_seller_day_and_currency(fee_plans):
    seller, other = SellerFactory(), SellerFactory()
    sold(seller, 8_300, 300)
    refunded = sold(seller, 2_100, 100)
    refund_paid(refunded, 700)
    captured(seller, 1_500, currency="JPY")  # captured, not released yet: a sale, no fee
    sold(other, 5_000, 250)
    bring_log_up_to_date()

    assert daily_totals_refresh() == log_size()
    assert totals(seller) == {"EUR": (10_400, 2, 400, 700, 1), "JPY": (1_500, 1, 0, 0, 0)}
    assert totals(other) == {"EUR": (5_000, 1, 250, 0, 0)}


def test_each_entry_counts_once_however_often_the_job_runs(fee_plans):
    seller = SellerFactory()
    sold(seller, 1_000, 30)
    bring_log_up_to_date()
    daily_totals_refresh()
    daily_totals_refresh()
    assert daily_totals_refresh() == 0
    assert totals(seller) == {"EUR": (1_000, 1, 30, 0, 0)}
    assert LogCursor.objects.get().next_index == log_size()

    sold(seller, 2_000, 60)
    assert daily_totals_refresh() == 0  # not in the log yet: it waits for the sealer
    bring_log_up_to_date()
    assert daily_totals_refresh(chunk_entries=1) > 0  # one entry per statement, same result
    assert totals(seller) == {"EUR": (3_000, 2, 90, 0, 0)}


def test_entries_that_name_no_sub_order_are_left_out_without_stopping_the_job(fee_plans):
    seller = SellerFactory()
    escrow = chart.account(currency="EUR", code=chart.ESCROW)
    external = chart.account(currency="EUR", code=chart.external("test_psp"))
    for metadata in ({"sub_order": "12; DROP TABLE x"}, {"sub_order": 99_999_999}, {}):
        create_transfers(
            [
                TransferRequest(
                    id=uuid.uuid4(),
                    debit_account_id=external,
                    credit_account_id=escrow,
                    amount_minor=100,
                    currency="EUR",
                    reason="payment_captured",
                    metadata=metadata,
                )
            ]
        )
    sold(seller, 1_000, 0)
    bring_log_up_to_date()
    assert daily_totals_refresh() == log_size()
    assert totals(seller) == {"EUR": (1_000, 1, 0, 0, 0)}
    assert SellerDailyTotal.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_count_each_entry_once(settings):
    settings.CLEARHOUSE_FEE_PLANS = {"standard": {"bps": 0, "hold_days": 0}}
    seller = SellerFactory()
    for amount in range(1_000, 1_010):
        sold(seller, amount, 1)
    bring_log_up_to_date()
    start = threading.Barrier(2)
    errors = []

    def run() -> None:
        try:
            start.wait(timeout=30)
            daily_totals_refresh(chunk_entries=3)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert totals(seller) == {"EUR": (sum(range(1_000, 1_010)), 10, 10, 0, 0)}
