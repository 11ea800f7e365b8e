"""The dashboard's orders list (/seller/orders/): only the seller's own orders (seller, another
seller, buyer, staff, anonymous), each filter and the search, every bad filter shown beside its
field with the list unfiltered, and keyset pages that neither repeat nor skip an order while new
orders arrive. The order's own page is payments' and sits in the same navigation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.money_format import format_money
from payments.models import SubOrder, SubOrderStatus
from payments.orders.buyer_reference import buyer_reference_for
from settlement.dashboard import orders as orders_module
from settlement.dashboard.orders import OrderFilters, orders_page
from settlement.release.selectors import seller_part_money
from tests.accounts.factories import BuyerFactory, SellerFactory, StaffFactory
from tests.settlement.dashboard_fixtures import sub_order_for

pytestmark = pytest.mark.django_db

LIST = "/seller/orders/"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def shown(content: str) -> list[int]:
    """The sub-order ids listed, in the order shown."""
    return [int(pk) for pk in re.findall(r'<tr data-order="(\d+)"', content)]


@pytest.fixture
def shop():
    """A seller's orders: three buyers, two currencies, several states, over a few days."""
    seller = SellerFactory()
    made = {
        "old_cheap": sub_order_for(
            seller,
            amount_minor=500,
            number="CH-AAAA111111",
            buyer_email="ann@example.com",
            created_at=NOW - dt.timedelta(days=10),
        ),
        "shipped": sub_order_for(
            seller,
            amount_minor=2_500,
            status=SubOrderStatus.SHIPPED,
            number="CH-BBBB222222",
            buyer_email="bob@example.com",
            created_at=NOW - dt.timedelta(days=3),
        ),
        "to_accept": sub_order_for(
            seller,
            amount_minor=4_000,
            status=SubOrderStatus.AWAITING_ACCEPTANCE,
            number="CH-BBBB333333",
            buyer_email="ann@example.com",
            created_at=NOW - dt.timedelta(days=1),
        ),
        "yen": sub_order_for(
            seller,
            amount_minor=3_000,
            currency="JPY",
            number="CH-CCCC444444",
            buyer_email="cem@example.com",
            created_at=NOW - dt.timedelta(hours=2),
        ),
        # Not paid yet: not the seller's business.
        "unpaid": sub_order_for(
            seller,
            status=SubOrderStatus.AWAITING_PAYMENT,
            number="CH-DDDD555555",
            created_at=NOW - dt.timedelta(hours=1),
        ),
    }
    return seller, made


# --- who may see what --------------------------------------------------------------------------


def test_the_list_is_the_sellers_own_and_an_order_of_another_seller_is_not_found(shop):
    seller, made = shop
    mine = made["shipped"]
    owner = client_for(seller).get(LIST)
    assert owner.status_code == 200
    content = owner.content.decode()
    assert shown(content) == [made[n].pk for n in ("yen", "to_accept", "shipped", "old_cheap")]
    assert "CH-BBBB222222" in content
    assert f'href="{reverse("payments:seller_order", args=[mine.pk])}"' in content

    other = SellerFactory()
    theirs = sub_order_for(other, number="CH-EEEE666666")
    other_client = client_for(other)
    listing = other_client.get(LIST).content.decode()
    assert shown(listing) == [theirs.pk]
    assert "CH-BBBB222222" not in listing
    # Another seller's order, and its actions, are not found (as if they did not exist).
    for name in ("seller_order", "seller_order_document", "seller_order_refund"):
        assert other_client.get(reverse(f"payments:{name}", args=[mine.pk])).status_code == 404
    assert other_client.get(f"{LIST}?q=CH-BBBB222222").content.decode().count("<tr data-") == 0

    for outsider in (BuyerFactory(), StaffFactory()):
        refused = client_for(outsider).get(LIST)
        assert refused.status_code == 403
        assert b"This page is for sellers" in refused.content
        assert b"CH-BBBB222222" not in refused.content
        detail = client_for(outsider).get(reverse("payments:seller_order", args=[mine.pk]))
        assert detail.status_code in (403, 404)
        assert b"CH-BBBB222222" not in detail.content

    anonymous = client_for(None).get(LIST)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login"))
    assert client_for(seller).post(LIST).status_code == 405


def test_each_order_shows_its_fee_and_net_as_its_own_page_does(shop):
    seller, made = shop
    released = made["old_cheap"]  # confirmed: its fee is fixed at release
    SubOrder.objects.filter(pk=released.pk).update(captured_minor=500, fee_minor=15)
    response = client_for(seller).get(LIST)
    content, locale = response.content.decode(), response.context["money_locale"]

    def cell(name: str, sub_order) -> str:
        found = re.search(rf'data-testid="{name}-{sub_order.pk}">(.*?)</td>', content, re.S)
        return found.group(1) if found else ""

    assert cell("fee", released) == format_money(15, "EUR", locale)
    assert cell("net", released) == format_money(485, "EUR", locale)
    shipped = made["shipped"]  # not released yet: the plan's fee on what was sold, estimated
    part = seller_part_money(SubOrder.objects.get(pk=shipped.pk))
    assert cell("fee", shipped).startswith(format_money(part.fee_minor, "EUR", locale))
    assert "(est.)" in cell("fee", shipped)
    assert cell("net", shipped) == format_money(part.net_minor, "EUR", locale)
    assert 0 < part.net_minor < shipped.amount_minor


def test_the_orders_and_an_orders_page_are_in_the_one_seller_navigation(shop):
    seller, made = shop
    client = client_for(seller)
    for url in (LIST, reverse("payments:seller_order", args=[made["shipped"].pk])):
        content = client.get(url).content.decode()
        nav = content.split('aria-label="Main"')[1].split("</nav>")[0]
        assert f'<a href="{LIST}" aria-current="page">Orders</a>' in nav
        for label in ("Overview", "Settlements", "Developers"):
            assert f">{label}</a>" in nav
    detail = client.get(reverse("payments:seller_order", args=[made["shipped"].pk]))
    assert f'<a href="{LIST}">← Your orders</a>' in detail.content.decode()
    # What waits on the seller leads to the list, filtered.
    live = client.get(reverse("dashboard:live")).content.decode()
    assert f'href="{LIST}?status=awaiting_acceptance"' in live


# --- filters and search ------------------------------------------------------------------------


def ids(*names: str, made: dict) -> list[int]:
    return [made[name].pk for name in names]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=shipped", ["shipped"]),
        ("status=awaiting_acceptance", ["to_accept"]),
        ("status=awaiting_payment", None),  # not a state the list offers: an error
        ("currency=JPY", ["yen"]),
        ("date_from=2026-11-17&date_to=2026-11-19", ["to_accept", "shipped"]),
        ("date_to=2026-11-10", ["old_cheap"]),
        ("currency=EUR&amount_min=25", ["to_accept", "shipped"]),
        ("currency=EUR&amount_min=5&amount_max=25", ["shipped", "old_cheap"]),
        ("currency=JPY&amount_max=3000", ["yen"]),  # yen have no decimals
        ("q=CH-BBBB222222", ["shipped"]),
        ("q=bbbb2", ["shipped"]),  # a prefix, "CH-" and capitals optional
        ("q=+CH-BBBB+", ["to_accept", "shipped"]),
        ("q=zzzz9", []),
        ("status=shipped&q=bbbb", ["shipped"]),
    ],
)
def test_each_filter_and_the_search(shop, query, expected):
    seller, made = shop
    content = client_for(seller).get(f"{LIST}?{query}").content.decode()
    if expected is None:
        assert 'data-testid="error-status"' in content
        return
    assert 'data-testid="filters-ignored"' not in content
    assert shown(content) == ids(*expected, made=made)
    if not expected:
        assert "No orders match these filters" in content


def test_the_buyer_reference_shows_that_buyers_orders(shop):
    seller, made = shop
    ann = buyer_reference_for(buyer_id=None, buyer_email="ann@example.com")
    client = client_for(seller)
    content = client.get(LIST).content.decode()
    # Each row links to its buyer's orders.
    assert f'href="?buyer={ann}"' in content
    assert shown(client.get(f"{LIST}?buyer={ann}").content.decode()) == ids(
        "to_accept", "old_cheap", made=made
    )
    # Another seller's order from the same buyer is not in this seller's list.
    sub_order_for(SellerFactory(), buyer_email="ann@example.com")
    assert len(shown(client.get(f"{LIST}?buyer={ann.upper()}").content.decode())) == 2


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("date_from=2026-13-01", "date_from", "YYYY-MM-DD"),
        ("date_from=yesterday", "date_from", "YYYY-MM-DD"),
        ("date_to=2026-02-30", "date_to", "YYYY-MM-DD"),
        ("date_from=2026-02-01&date_to=2026-01-01", "date_to", "before the start"),
        ("date_from=" + "9" * 70, "date_from", "YYYY-MM-DD"),
        ("currency=eur", "currency", "ISO 4217"),
        ("currency=ABC", "currency", "not a currency"),
        ("currency=XAU", "currency", "not a currency"),
        ("currency=EUR&amount_min=abc", "amount_min", "Enter an amount in EUR"),
        ("currency=EUR&amount_min=1,234", "amount_min", "at most its decimals"),  # German
        ("currency=JPY&amount_max=5.5", "amount_max", "Enter an amount in JPY"),
        ("amount_min=10", "amount_min", "Choose a currency"),
        ("currency=EUR&amount_min=20&amount_max=10", "amount_max", "below the lower"),
        ("status=lost", "status", "Select a valid choice"),
        ("buyer=ann@example.com", "buyer", "buyer_ and 32"),
        ("buyer=buyer_123", "buyer", "buyer_ and 32"),
        ("q=CH-", "q", "at least 4 characters"),
        ("q=ab'%", "q", "at least 4 characters"),
    ],
)
def test_a_bad_filter_is_shown_beside_its_field_and_the_list_is_unfiltered(
    shop, query, field, message
):
    seller, made = shop
    response = client_for(seller).get(f"{LIST}?{query}")
    assert response.status_code == 200
    content = response.content.decode()
    error = content.split(f'data-testid="error-{field}"')[1].split("</ul>")[0]
    assert message in error
    assert 'data-testid="filters-ignored"' in content
    assert shown(content) == ids("yen", "to_accept", "shipped", "old_cheap", made=made)


# --- keyset pages ------------------------------------------------------------------------------


def test_pages_neither_repeat_nor_skip_an_order_while_new_orders_arrive(monkeypatch):
    """Paging down the list while buyers keep ordering: every order there when the seller began
    is seen exactly once (an offset page would show an order again as new ones push it down).
    Orders placed in the same microsecond are told apart by id."""
    seller = SellerFactory()
    same_moment = NOW - dt.timedelta(days=1)
    there = [
        sub_order_for(seller, created_at=NOW - dt.timedelta(minutes=minutes)).pk
        for minutes in range(1, 8)
    ]
    # Newest first; at the same moment, the higher id first.
    there += sorted(
        (sub_order_for(seller, created_at=same_moment).pk for _ in range(4)), reverse=True
    )
    monkeypatch.setattr(orders_module, "PAGE_SIZE", 3)
    client = client_for(seller)
    seen, query, pages = [], "", 0
    while True:
        content = client.get(f"{LIST}?{query}").content.decode()
        seen += shown(content)
        pages += 1
        # Two new orders arrive before the seller asks for the next page.
        sub_order_for(seller)
        sub_order_for(seller)
        found = re.search(r'<a href="\?([^"]+)" rel="next"', content)
        if not found:
            break
        query = found.group(1).replace("&amp;", "&")
    assert pages == 4
    assert len(seen) == len(set(seen))
    assert seen == there  # newest first, none skipped, none twice, none of the new ones


def test_a_page_keeps_its_filters_and_a_damaged_cursor_is_the_first_page(monkeypatch):
    seller = SellerFactory()
    euros = [sub_order_for(seller, amount_minor=1_000 + n).pk for n in range(5)]
    sub_order_for(seller, currency="USD")
    first = orders_page(seller_id=seller.pk, filters=OrderFilters(currency="EUR"), limit=2)
    assert [row.pk for row in first.items] == euros[::-1][:2]
    second = orders_page(
        seller_id=seller.pk, filters=OrderFilters(currency="EUR"), after=first.next_cursor, limit=2
    )
    assert [row.pk for row in second.items] == euros[::-1][2:4]
    for damaged in ("!!", "%00zz", "MjAyNi0xMS0yMHwtMQ", "x" * 300):
        page = orders_page(seller_id=seller.pk, filters=OrderFilters(), after=damaged, limit=2)
        assert len(page.items) == 2
    monkeypatch.setattr(orders_module, "PAGE_SIZE", 2)
    content = client_for(seller).get(f"{LIST}?currency=EUR&after=%00zz").content.decode()
    assert "currency=EUR&amp;after=" in content  # the next page keeps the filter
    assert 'data-testid="first-page"' in content


def test_the_migration_fills_in_the_buyer_reference_of_older_orders():
    """Orders made before the column existed get the reference their sealed document carries."""
    from importlib import import_module

    from django.apps import apps

    from payments.fulfilment.documents import buyer_reference
    from payments.models import SubOrder

    migration = import_module("payments.migrations.0018_suborder_buyer_reference")
    seller, buyer = SellerFactory(), BuyerFactory()
    guest = sub_order_for(seller, buyer_email="Guest@Example.com")
    member = sub_order_for(seller)
    member.order.buyer = buyer
    member.order.save(update_fields=["buyer"])
    SubOrder.objects.update(buyer_reference="")

    migration.fill_buyer_references(apps, None)

    for sub_order in (guest, member):
        sub_order.refresh_from_db()
        assert sub_order.buyer_reference == buyer_reference(sub_order.order)
    assert guest.buyer_reference == buyer_reference_for(
        buyer_id=None, buyer_email="guest@example.com"
    )
    assert member.buyer_reference == buyer_reference_for(buyer_id=buyer.pk, buyer_email="")


def test_an_order_placed_through_the_shop_carries_its_documents_buyer_reference():
    from payments.fulfilment.documents import buyer_reference
    from tests.lifecycle.accept_fixtures import make_product, place_order

    first, second = SellerFactory(), SellerFactory()
    buyer = BuyerFactory()
    order = place_order(
        buyer, [(make_product(first, price=1_000), 1), (make_product(second, price=2_000), 1)]
    )
    references = {sub.seller_id: sub.buyer_reference for sub in order.sub_orders.all()}
    assert references == {first.pk: buyer_reference(order), second.pk: buyer_reference(order)}
    assert references[first.pk] == buyer_reference_for(buyer_id=buyer.pk, buyer_email="")
