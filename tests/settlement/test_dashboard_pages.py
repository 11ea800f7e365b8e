"""The sellers' dashboard pages: who may see what (every page and export, for the seller, another
seller, a buyer, staff and an anonymous visitor), what the pages show, bad filters, keyset pages
and the CSV exports whose lines sum to the batch's net."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from payments.models import Dispute, SubOrderStatus
from settlement.dashboard import selectors
from settlement.dashboard.daily_totals import daily_totals_refresh
from settlement.dashboard.selectors import ListFilters
from settlement.models import SettlementBatch
from tests.accounts.factories import BuyerFactory, SellerFactory, StaffFactory
from tests.settlement.dashboard_fixtures import (
    settle,
    sold,
    sub_order_for,
)
from tests.settlement.test_batches import refund_from_available

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body(response).decode())))


def pages(state) -> dict[str, str]:
    today = timezone.localdate()
    return {
        "overview": reverse("dashboard:overview"),
        "live": reverse("dashboard:live"),
        "settlements": reverse("dashboard:settlements"),
        "payouts": reverse("dashboard:payouts"),
        "developers": reverse("dashboard:developers"),
        "batch": reverse("dashboard:batch", args=[state.batch.pk]),
        "batch_csv": reverse("dashboard:batch_csv", args=[state.batch.pk]),
        "payout": reverse("dashboard:payout", args=[state.payout.pk]),
        "export_csv": reverse("dashboard:export_csv")
        + f"?date_from={today - dt.timedelta(days=30)}&date_to={today}",
    }


OBJECT_PAGES = {"batch", "batch_csv", "payout"}


# --- who may see what --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "page",
    [
        "overview",
        "live",
        "settlements",
        "payouts",
        "developers",
        "batch",
        "batch_csv",
        "payout",
        "export_csv",
    ],
)
def test_every_page_and_export_is_the_sellers_own(settled, page):
    url = pages(settled)[page]
    mine = str(settled.batch.pk).encode()

    owner = client_for(settled.seller).get(url)
    assert owner.status_code == 200
    if page in ("settlements", "batch", "batch_csv", "payout", "export_csv"):
        assert mine in body(owner)

    other = client_for(SellerFactory()).get(url)
    if page in OBJECT_PAGES:
        assert other.status_code == 404  # as if it did not exist
    else:
        assert other.status_code == 200
        assert mine not in body(other)
        assert str(settled.payout.pk).encode() not in body(other)
    if page == "export_csv":
        assert csv_rows(other) == []  # the other seller's own range: nothing

    for outsider in (BuyerFactory(), StaffFactory()):
        refused = client_for(outsider).get(url)
        assert refused.status_code == 403
        assert b"This page is for sellers" in refused.content
        assert mine not in refused.content

    anonymous = client_for(None).get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login"))


def test_staff_are_pointed_to_the_admin(settled):
    response = client_for(StaffFactory()).get(reverse("dashboard:overview"))
    assert response.status_code == 403
    assert reverse("admin:index").encode() in response.content


def test_pages_do_not_accept_writes(settled):
    for url in pages(settled).values():
        assert client_for(settled.seller).post(url).status_code == 405


def test_a_malformed_id_is_not_found(settled):
    client = client_for(settled.seller)
    assert client.get("/seller/settlements/not-a-uuid/").status_code == 404
    assert client.get("/seller/payouts/00000000-0000-0000-0000-000000000000/").status_code == 404


# --- the overview ------------------------------------------------------------------------------


def test_the_overview_shows_balances_in_the_sellers_locale(settled):
    seller = settled.seller
    sold(seller, 1_050, 50)  # 10.00 available since the batch
    content = client_for(seller).get(reverse("dashboard:overview")).content.decode()
    # A German seller: the euro sign after the amount, a decimal comma.
    assert 'data-testid="balance-available-EUR">10,00\xa0€<' in content
    assert 'data-testid="balance-in-transit-EUR">0,00\xa0€<' in content
    assert 'data-testid="estimate-EUR">10,00\xa0€<' in content
    assert f"{settled.payout.pk}" in content  # the last payouts, with their bank status
    assert f'data-testid="payout-status-{settled.payout.pk}">Paid<' in content


def test_a_payout_in_transit_and_a_negative_balance_are_shown_clearly(fee_plans):
    seller = SellerFactory(profile__country="US")
    sold(seller, 10_000, 0)
    settle(seller, bank_says="accepted")  # submitted: the money is on its way
    content = client_for(seller).get(reverse("dashboard:overview")).content.decode()
    assert 'data-testid="balance-in-transit-EUR">€100.00<' in content  # en_US
    assert 'data-testid="balance-available-EUR">€0.00<' in content

    refund_from_available(seller, 2_500)  # a refund after the money left: short by 25.00
    content = client_for(seller).get(reverse("dashboard:overview")).content.decode()
    assert 'data-testid="balance-negative-EUR"><strong>-€25.00</strong>' in content
    assert 'data-testid="negative-notice-EUR"' in content
    assert 'data-testid="balance-available-EUR">€0.00<' in content


def test_the_next_payout_day_comes_from_the_schedule_rule(fee_plans):
    today = timezone.localdate()
    weekday = (today + dt.timedelta(days=3)).isoweekday()
    seller = SellerFactory(profile__settlement_schedule="weekly", profile__payout_weekday=weekday)
    state = selectors.next_payout(seller_id=seller.pk, profile=seller.seller_profile, today=today)
    assert state.day == today + dt.timedelta(days=3)

    daily = SellerFactory()
    sold(daily, 1_000, 0)
    profile = daily.seller_profile
    assert selectors.next_payout(seller_id=daily.pk, profile=profile, today=today).day == today
    settle(daily)  # today's batch is made: the next one is tomorrow's
    assert selectors.next_payout(
        seller_id=daily.pk, profile=profile, today=today
    ).day == today + dt.timedelta(days=1)

    manual = SellerFactory(profile__settlement_schedule="manual")
    state = selectors.next_payout(seller_id=manual.pk, profile=manual.seller_profile, today=today)
    assert state.day is None
    content = client_for(manual).get(reverse("dashboard:overview")).content.decode()
    assert "You are paid when you ask for a payout" in content


def test_the_estimate_is_what_the_batch_then_holds(fee_plans):
    seller = SellerFactory(profile__minimum_payout_minor=5_000)
    sold(seller, 3_000, 100)
    refund_from_available(seller, 400)
    (estimate,) = selectors.next_payout(
        seller_id=seller.pk, profile=seller.seller_profile, today=timezone.localdate()
    ).estimates
    assert (estimate.net_minor, estimate.line_count, estimate.would_be_made) == (2_500, 2, False)
    assert not SettlementBatch.objects.exists()  # an estimate writes nothing
    content = client_for(seller).get(reverse("dashboard:overview")).content.decode()
    assert "below your minimum payout of 50,00\xa0€" in content

    sold(seller, 3_000, 0)
    (estimate,) = selectors.next_payout(
        seller_id=seller.pk, profile=seller.seller_profile, today=timezone.localdate()
    ).estimates
    batch = settle(seller).batch
    assert (estimate.net_minor, estimate.line_count) == (batch.net_minor, batch.line_count)


def test_what_waits_on_the_seller(settled):
    seller = settled.seller
    sub_order_for(seller, status=SubOrderStatus.AWAITING_ACCEPTANCE)
    sub_order_for(seller, status=SubOrderStatus.AWAITING_ACCEPTANCE)
    disputed = sub_order_for(seller, status=SubOrderStatus.DISPUTED)
    Dispute.objects.create(sub_order=disputed, opened_by="buyer", reason="Broken.")
    sub_order_for(SellerFactory(), status=SubOrderStatus.AWAITING_ACCEPTANCE)  # not this seller's

    content = client_for(seller).get(reverse("dashboard:live")).content.decode()
    assert "<strong>2</strong> orders to accept" in content
    assert "?status=awaiting_acceptance" in content
    assert "<strong>1</strong> open dispute" in content
    assert "No payouts to acknowledge" in content
    assert 'data-testid="waiting-failed"' not in content


def test_a_failed_payout_asks_the_seller_to_check_the_bank_account(fee_plans):
    seller = SellerFactory()
    sold(seller, 1_000, 0)
    settle(seller, bank_says="rejected")
    waiting = selectors.waiting_for(seller_id=seller.pk, profile=seller.seller_profile)
    assert waiting.payouts_failed == 1
    content = client_for(seller).get(reverse("dashboard:live")).content.decode()
    assert 'data-testid="waiting-failed"' in content


def test_charts_of_sales_fees_and_refunds_by_day_with_a_table(settled):
    daily_totals_refresh()
    client = client_for(settled.seller)
    content = client.get(reverse("dashboard:overview")).content.decode()
    assert 'data-testid="chart-EUR"' in content and "<svg" in content
    # Readable without the chart: the same figures in a table (today's row, then the total).
    assert "104,00\xa0€" in content  # 83.00 + 21.00 of sales
    assert "4,00\xa0€" in content  # 3.00 + 1.00 of fees
    ninety = client.get(reverse("dashboard:overview") + "?days=90").content.decode()
    table = (
        ninety.split('data-testid="chart-table-EUR"')[1].split("<tbody>")[1].split("</tbody>")[0]
    )
    assert table.count("<tr>") == 90  # one row a day
    bad = client.get(reverse("dashboard:overview") + "?days=7")
    assert bad.status_code == 200
    assert "Charts cover 30 or 90 days" in bad.content.decode()


# --- settlements, payouts, filters -------------------------------------------------------------


def test_a_batch_lists_every_line_with_its_kind_and_the_net(settled):
    content = (
        client_for(settled.seller)
        .get(reverse("dashboard:batch", args=[settled.batch.pk]))
        .content.decode()
    )
    assert content.count('data-testid="line-amount"') == 3
    assert content.count('data-testid="line-kind">Sale<') == 2
    assert content.count('data-testid="line-kind">Refund<') == 1
    assert 'data-testid="batch-net">95,00\xa0€<' in content
    assert "-5,00\xa0€" in content


def test_a_batch_pages_its_lines_by_log_position(fee_plans, monkeypatch):
    from settlement.dashboard import views

    monkeypatch.setattr(views, "LINES_PAGE", 2)
    seller = SellerFactory()
    for amount in (1_000, 2_000, 3_000):
        sold(seller, amount, 0)
    batch = settle(seller).batch
    client = client_for(seller)
    first = client.get(reverse("dashboard:batch", args=[batch.pk])).content.decode()
    assert first.count('data-testid="line-amount"') == 2
    assert 'data-testid="next-page"' in first
    after = first.split('data-testid="next-page"')[0].rsplit('href="?', 1)[1].split('"')[0]
    second = client.get(reverse("dashboard:batch", args=[batch.pk]) + "?" + after)
    text = second.content.decode()
    assert text.count('data-testid="line-amount"') == 1 and "30,00\xa0€" in text
    assert 'data-testid="next-page"' not in text


def test_the_batch_csv_lines_sum_to_its_net_and_stream_from_a_server_side_cursor(settled):
    client = client_for(settled.seller)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("dashboard:batch_csv", args=[settled.batch.pk]))
        rows = csv_rows(response)
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    assert any(query["sql"].startswith("DECLARE") for query in queries.captured_queries)
    assert len(rows) == settled.batch.line_count == 3
    assert sum(int(row["amount_minor"]) for row in rows) == settled.batch.net_minor == 9_500
    assert sorted(row["kind"] for row in rows) == ["refund", "sale", "sale"]
    assert {row["amount"] for row in rows} >= {"-5.00"}
    assert {row["batch"] for row in rows} == {str(settled.batch.pk)}


def test_a_range_export_covers_every_batch_in_it(fee_plans):
    seller = SellerFactory()
    today = timezone.localdate()
    sold(seller, 1_000, 0)
    first = settle(seller, day=today - dt.timedelta(days=1)).batch
    sold(seller, 2_500, 100)
    second = settle(seller, day=today).batch
    client = client_for(seller)
    url = reverse("dashboard:export_csv")
    rows = csv_rows(client.get(f"{url}?date_from={today - dt.timedelta(days=1)}&date_to={today}"))
    assert [row["batch"] for row in rows] == [str(first.pk), str(second.pk)]
    assert sum(int(row["amount_minor"]) for row in rows) == first.net_minor + second.net_minor
    only_today = csv_rows(client.get(f"{url}?date_from={today}&date_to={today}&currency=EUR"))
    assert [row["batch"] for row in only_today] == [str(second.pk)]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("date_from=2026-01-01&date_to=2036-01-01", "date_to", "at most 366 days"),
        ("date_from=2026-02-01&date_to=2026-01-01", "date_to", "before the start"),
        ("date_from=yesterday&date_to=2026-01-01", "date_from", "YYYY-MM-DD"),
        ("date_to=2026-01-01", "date_from", "required"),
        ("date_from=2026-01-01&date_to=2026-01-02&currency=EURO", "currency", "ISO 4217"),
    ],
)
def test_a_bad_export_range_is_refused_beside_its_field(settled, query, field, message):
    response = client_for(settled.seller).get(f"{reverse('dashboard:export_csv')}?{query}")
    assert response.status_code == 400
    assert not response.streaming
    content = response.content.decode()
    error = content.split(f'data-testid="export-error-{field}"')[1].split("</ul>")[0]
    assert message in error
    assert str(settled.batch.pk) in content  # the settlements list is still shown


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("currency=eur", "currency"),
        ("currency=ABC", "currency"),
        ("currency=XAU", "currency"),
        ("date_from=2026-13-01", "date_from"),
        ("date_from=2026-02-01&date_to=2026-01-01", "date_to"),
        ("currency=EUR&amount_min=abc", "amount_min"),
        ("currency=EUR&amount_min=1,234", "amount_min"),  # 1.234 to a German: 3 decimals
        ("currency=JPY&amount_max=5.5", "amount_max"),
        ("amount_min=10", "amount_min"),
        ("currency=EUR&amount_min=20&amount_max=10", "amount_max"),
        ("date_from=" + "9" * 70, "date_from"),
    ],
)
def test_a_bad_filter_is_shown_beside_its_field_and_the_list_is_unfiltered(settled, query, field):
    client = client_for(settled.seller)
    for name in ("dashboard:settlements", "dashboard:payouts"):
        response = client.get(f"{reverse(name)}?{query}")
        assert response.status_code == 200
        content = response.content.decode()
        assert f'data-testid="error-{field}"' in content
        assert 'data-testid="filters-ignored"' in content
        assert str(settled.batch.pk if name.endswith("settlements") else settled.payout.pk) in (
            content
        )


def test_filters_that_are_good_filter(settled):
    client = client_for(settled.seller)
    url = reverse("dashboard:settlements")
    batch = str(settled.batch.pk)
    # Amounts are typed the seller's way (German: a decimal comma) or plainly.
    assert batch in client.get(f"{url}?currency=EUR&amount_min=94,99").content.decode()
    assert batch not in client.get(f"{url}?currency=EUR&amount_min=95.01").content.decode()
    assert batch not in client.get(f"{url}?currency=USD").content.decode()
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    assert batch not in client.get(f"{url}?date_from={tomorrow}").content.decode()
    payouts = reverse("dashboard:payouts")
    payout = str(settled.payout.pk)
    assert payout in client.get(f"{payouts}?status=paid").content.decode()
    assert payout not in client.get(f"{payouts}?status=failed").content.decode()
    assert 'data-testid="error-status"' in client.get(f"{payouts}?status=sent").content.decode()


def test_lists_are_keyset_pages_without_gaps_or_repeats(fee_plans):
    seller = SellerFactory()
    today = timezone.localdate()
    for offset in range(5, 0, -1):
        sold(seller, 1_000 * offset, 0)
        settle(seller, day=today - dt.timedelta(days=offset))
    seen_batches, seen_payouts, after_b, after_p = [], [], None, None
    for _ in range(5):
        page = selectors.batches_page(user=seller, filters=ListFilters(), after=after_b, limit=2)
        seen_batches += [batch.period_end for batch in page.items]
        payouts = selectors.payouts_page(user=seller, filters=ListFilters(), after=after_p, limit=2)
        seen_payouts += [payout.pk for payout in payouts.items]
        after_b, after_p = page.next_cursor, payouts.next_cursor
        if not after_b and not after_p:
            break
    assert seen_batches == [today - dt.timedelta(days=offset) for offset in range(1, 6)]
    assert len(seen_payouts) == len(set(seen_payouts)) == 5
    # A damaged cursor is the first page, not an error.
    damaged = selectors.batches_page(user=seller, filters=ListFilters(), after="!!", limit=2)
    assert [b.period_end for b in damaged.items] == seen_batches[:2]
    response = client_for(seller).get(reverse("dashboard:settlements") + "?after=%00zz")
    assert response.status_code == 200


def test_the_payout_page_shows_its_bank_status_and_history(settled):
    content = (
        client_for(settled.seller)
        .get(reverse("dashboard:payout", args=[settled.payout.pk]))
        .content.decode()
    )
    assert 'data-testid="payout-status">Paid<' in content
    assert 'data-testid="payout-amount">95,00\xa0€<' in content
    assert "account ending 3000" in content
    assert settled.payout.iban not in content  # never the whole account number
    history = content.split('data-testid="payout-history"')[1].split("</ol>")[0]
    assert "made" in history and "paid" in history


def test_the_seller_navigation_has_overview_orders_settlements_and_developers(settled):
    content = client_for(settled.seller).get(reverse("dashboard:payouts")).content.decode()
    nav = content.split('aria-label="Main"')[1].split("</nav>")[0]
    for label in ("Overview", "Orders", "Settlements", "Developers"):
        assert f">{label}</a>" in nav
    assert 'aria-current="page">Settlements<' in nav
    developers = client_for(settled.seller).get(reverse("dashboard:developers")).content.decode()
    for name in ("accounts:api_keys", "accounts:seller_keys", "payments:seller_webhooks"):
        assert f'href="{reverse(name)}"' in developers
