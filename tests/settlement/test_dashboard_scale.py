"""The dashboard at two history sizes: every page and export runs the same number of SQL
statements for a seller with 12 payments and one with 240 (the count must not grow with history),
and the bulk history the benchmark builds is a consistent ledger that the services can go on
from."""

from __future__ import annotations

import datetime as dt
import itertools
import tracemalloc

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ledger import chart
from ledger.models import Account
from ledger.selectors import account_balance, trial_balance
from payments.models import Dispute, SubOrder
from settlement.batches import batch_lines
from settlement.dashboard import selectors
from settlement.dashboard.daily_totals import daily_totals_refresh
from settlement.dashboard.history import build_histories
from settlement.dashboard.orders import OrderFilters, orders_page
from settlement.gateways.base import TransferResult
from settlement.models import Payout, SettlementBatch
from settlement.payouts.services import apply_bank_answer
from tests.accounts.factories import SellerFactory

pytestmark = pytest.mark.django_db

SMALL, LARGE, DAYS = 12, 240, 40

# What each page may cost in SQL statements (session, user and profile included).
BUDGET = {
    # The next batch's estimate is the batches' own query: the lowest cursor, then the sums.
    "overview": 14,
    "overview_90": 14,
    "live": 10,
    "settlements": 4,
    "settlements_filtered": 4,
    "settlements_page_2": 4,
    "payouts": 4,
    "batch": 6,
    "batch_csv": 7,
    "payout": 5,
    "export_csv": 7,
    "developers": 2,
    # The list and payments' balances panel above it (its accounts, their balances, escrow).
    "orders": 11,
    "orders_filtered": 11,
    "orders_page_2": 11,
    "orders_buyer": 11,
    "orders_search": 11,
}


@pytest.fixture
def histories():
    small, large = SellerFactory(), SellerFactory()
    build_histories([(small, SMALL), (large, LARGE)], days=DAYS, now=timezone.now())
    daily_totals_refresh()
    return small, large


def urls_for(seller) -> dict[str, str]:
    batch = SettlementBatch.objects.filter(seller=seller).order_by("-period_end").first()
    payout = Payout.objects.filter(seller=seller, status="paid").order_by("-created_at").first()
    second_page = selectors.batches_page(
        user=seller, filters=selectors.ListFilters(), limit=selectors.PAGE_SIZE
    ).next_cursor
    today = timezone.localdate()
    orders = orders_page(seller_id=seller.pk, filters=OrderFilters(), limit=5)
    newest = orders.items[0]
    return {
        "overview": reverse("dashboard:overview"),
        "overview_90": reverse("dashboard:overview") + "?days=90",
        "live": reverse("dashboard:live"),
        "settlements": reverse("dashboard:settlements"),
        "settlements_filtered": reverse("dashboard:settlements")
        + "?currency=EUR&amount_min=1&date_from=2020-01-01",
        "settlements_page_2": reverse("dashboard:settlements") + f"?after={second_page}",
        "payouts": reverse("dashboard:payouts"),
        "batch": reverse("dashboard:batch", args=[batch.pk]),
        "batch_csv": reverse("dashboard:batch_csv", args=[batch.pk]),
        "payout": reverse("dashboard:payout", args=[payout.pk]),
        "export_csv": reverse("dashboard:export_csv")
        + f"?date_from={today.replace(day=1)}&date_to={today}",
        "developers": reverse("dashboard:developers"),
        "orders": reverse("dashboard:orders"),
        "orders_filtered": reverse("dashboard:orders")
        # Filters that leave rows at both sizes: an empty page skips the rows' money queries.
        + f"?status=confirmed&currency=EUR&amount_min=1&date_from={today - dt.timedelta(days=DAYS)}",
        "orders_page_2": reverse("dashboard:orders") + f"?after={orders.next_cursor}",
        "orders_buyer": reverse("dashboard:orders") + f"?buyer={newest.buyer_reference}",
        "orders_search": reverse("dashboard:orders") + f"?q={newest.order.number}",
    }


def statements(seller, url: str) -> int:
    client = Client()
    client.force_login(seller)
    client.get(url)  # the first request of a session may differ (it is not what is measured)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize("page", sorted(BUDGET))
def test_a_page_costs_the_same_statements_at_both_history_sizes(histories, page):
    small, large = histories
    counts = [statements(seller, urls_for(seller)[page]) for seller in (small, large)]
    assert counts[0] == counts[1], (
        f"{page}: {counts[0]} statements for {SMALL} payments, {counts[1]} for {LARGE}"
    )
    assert counts[1] <= BUDGET[page]


def test_the_bulk_history_is_a_consistent_ledger(histories):
    small, large = histories
    for currency, total in trial_balance().items():
        assert (total.net_posted, total.net_pending) == (0, 0), currency
    for seller, payments in ((small, SMALL), (large, LARGE)):
        batches = list(SettlementBatch.objects.filter(seller=seller).order_by("log_from"))
        assert batches
        assert batches[0].log_from == 0
        for before, after in itertools.pairwise(batches):
            assert after.log_from == before.log_to  # the batches tile the log
        for batch in batches:
            lines = batch_lines(batch)
            assert len(lines) == batch.line_count
            assert sum(line.amount_minor for line in lines) == batch.net_minor
        assert SubOrder.objects.filter(seller=seller).count() == payments
        assert Dispute.objects.filter(sub_order__seller=seller, status="open").count() == 2
    # The newest payout is still at the bank: the payout services take it from there.
    payout = Payout.objects.get(seller=large, status="submitted")
    available = Account.objects.get(currency="EUR", code=chart.seller_available(large.pk))
    assert account_balance(available.id).debits_pending == payout.amount_minor
    apply_bank_answer(
        TransferResult(
            status="paid",
            payout_id=payout.bank_id,
            bank_reference="BANK-1",
            amount_minor=payout.amount_minor,
            currency=payout.currency,
        )
    )
    payout.refresh_from_db()
    assert payout.status == "paid"
    assert account_balance(available.id).debits_pending == 0


def test_a_range_export_streams_in_constant_memory(monkeypatch):
    """Ten times the lines, the same memory: the export holds one chunk of lines at a time (a
    server-side cursor inside a transaction, no WITH HOLD copy of the result), never the range."""
    from settlement import batches as batches_module

    monkeypatch.setattr(batches_module, "STREAM_CHUNK", 100)
    small, large = SellerFactory(), SellerFactory()
    build_histories([(small, 300), (large, 3_000)], days=20, now=timezone.now())
    today = timezone.localdate()
    url = (
        reverse("dashboard:export_csv")
        + f"?date_from={today - dt.timedelta(days=30)}&date_to={today}"
    )
    peaks, lines = {}, {}
    for seller in (small, large):
        client = Client()
        client.force_login(seller)
        b"".join(client.get(url).streaming_content)  # warm: templates, URL resolver, caches
        response = client.get(url)
        with CaptureQueriesContext(connection) as captured:
            tracemalloc.start()
            count = sum(chunk.count(b"\n") for chunk in response.streaming_content)
            _, peaks[seller] = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        lines[seller] = count - 1
        (declare,) = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("DECLARE")]
        assert "WITH HOLD" not in declare.upper()
    assert lines[large] > 8 * lines[small] > 1_200
    assert peaks[large] < 1.5 * peaks[small], (lines, peaks)
