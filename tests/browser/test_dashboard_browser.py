"""The sellers' dashboard in Chromium: a seller signs in, sees the balances and the chart, opens a
settlement, downloads its CSV (whose lines sum to the payout), filters the orders list, and
watches the money in transit become paid without reloading the page, when the bank's answer is
applied in another thread (as a worker or the bank's callback would)."""

from __future__ import annotations

import csv
import datetime as dt
import re
import threading

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from settlement.batches import bring_log_up_to_date
from settlement.dashboard.daily_totals import daily_totals_refresh
from settlement.gateways.base import TransferResult
from settlement.payouts.services import apply_bank_answer
from tests.accounts.factories import PASSWORD, SellerFactory
from tests.settlement.dashboard_fixtures import settle, sold

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SELLER_EMAIL = "toepferei@example.test"


@pytest.fixture
def seller_with_money(settings):
    """Yesterday's settlement paid (83.00 + 21.00 sold, 4.00 of fees: 100.00); today's (50.00)
    submitted to the bank, in transit."""
    settings.CLEARHOUSE_FEE_PLANS = {"standard": {"bps": 0, "hold_days": 0}}
    seller = SellerFactory(email=SELLER_EMAIL)  # a German seller: "1.234,56 €"
    sold(seller, 8_300, 300)
    sold(seller, 2_100, 100)
    paid = settle(seller, day=timezone.localdate() - dt.timedelta(days=1))
    sold(seller, 5_000, 0)
    in_transit = settle(seller, bank_says="accepted")
    bring_log_up_to_date()
    daily_totals_refresh()
    return seller, paid, in_transit


def test_a_seller_follows_the_money_from_the_overview_to_the_bank(
    page, live_server, seller_with_money, shots
):
    _seller, paid, in_transit = seller_with_money
    assert (paid.payout.status, in_transit.payout.status) == ("paid", "submitted")
    page.set_default_timeout(15_000)

    # 1. Sign in through the login page; the navigation leads to the overview.
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(SELLER_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Your money")).to_be_visible()

    # 2. Balances, in the seller's locale, and the chart of the days' sales.
    expect(page.get_by_test_id("balance-in-transit-EUR")).to_have_text("50,00\xa0€")
    expect(page.get_by_test_id("balance-available-EUR")).to_have_text("0,00\xa0€")
    chart = page.get_by_test_id("chart-EUR")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.chart__sales")).not_to_have_count(0)
    expect(chart.locator("figcaption")).to_contain_text("sales 154,00\xa0€ (3)")
    shots(page, "overview")

    # 3. Open yesterday's settlement and download its lines.
    nav.get_by_role("link", name="Settlements").click()
    expect(page.get_by_role("heading", name="Settlements")).to_be_visible()
    page.locator(f'tr[data-batch="{paid.batch.pk}"]').get_by_role("link").first.click()
    expect(page.get_by_test_id("batch-net")).to_have_text("100,00\xa0€")
    expect(page.get_by_test_id("line-amount")).to_have_count(2)
    shots(page, "settlement")
    with page.expect_download() as download:
        page.get_by_test_id("batch-csv").click()
    with open(download.value.path(), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    assert sum(int(row["amount_minor"]) for row in rows) == paid.payout.amount_minor == 10_000
    page.get_by_test_id("batch-payout").click()
    expect(page.get_by_test_id("payout-status")).to_have_text("Paid")

    # 4. The orders list: filtered by amount (typed the German way), then a bad amount is shown
    # beside its field and the list is the whole list again; an order opens on its own page.
    nav.get_by_role("link", name="Orders").click()
    rows = page.get_by_test_id("orders").locator("tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_label("Currency").fill("EUR")
    page.get_by_label("Amount from").fill("50")
    page.get_by_label("Amount up to").fill("60,00")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td[data-label=Amount]")).to_have_text("50,00\xa0€")
    shots(page, "orders-filtered")
    page.get_by_label("Amount from").fill("fifty")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("error-amount_min")).to_contain_text("Enter an amount in EUR")
    expect(page.get_by_test_id("filters-ignored")).to_be_visible()
    expect(rows).to_have_count(3)
    rows.first.get_by_test_id("order-number").click()
    expect(page.get_by_test_id("status")).to_have_text("Receipt confirmed")
    expect(nav.get_by_role("link", name="Orders")).to_have_attribute("aria-current", "page")

    # 5. Back on the overview: the bank pays today's payout, told in another thread; the
    # balances change by themselves (htmx asks every few seconds), the page is not reloaded.
    nav.get_by_role("link", name="Overview").click()
    expect(page.get_by_test_id("balance-in-transit-EUR")).to_have_text("50,00\xa0€")
    page.evaluate("window.stillTheSamePage = true")
    payout = in_transit.payout
    errors = []

    def bank_pays() -> None:
        try:
            apply_bank_answer(
                TransferResult(
                    status="paid",
                    payout_id=payout.bank_id,
                    bank_reference="BANK-PAID",
                    amount_minor=payout.amount_minor,
                    currency=payout.currency,
                )
            )
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    worker = threading.Thread(target=bank_pays)
    worker.start()
    worker.join(timeout=30)
    assert errors == []
    expect(page.get_by_test_id("balance-in-transit-EUR")).to_have_text("0,00\xa0€", timeout=20_000)
    expect(page.get_by_test_id(f"payout-status-{payout.pk}")).to_have_text("Paid")
    assert page.evaluate("window.stillTheSamePage") is True
    shots(page, "paid-live")
