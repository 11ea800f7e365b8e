"""One truthful order status, in Chromium: a buyer's order with two sellers goes through one
seller's acceptance, a partial refund and a dispute, and at every step the page's headline, its
payment line and each seller's part (state, refunds, where the money is) say what is true,
asserted on the text the buyer reads. The timeline names the seller of each step, once.

The sellers act through the services their pages and the API call (the seller pages have their
own browser test); the refund is paid back as the worker would (refund_process) since no worker
runs in browser tests.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import expect

from accounts import dashboard_keys
from accounts.models import Role, User
from payments.fulfilment.dashboard_acceptance import sub_order_accept_with_password
from payments.fulfilment.refund_outcomes import refund_process
from payments.fulfilment.refunds import refund_create
from tests.lifecycle.accept_fixtures import PASSWORD, make_product, place_order
from tests.lifecycle.lifecycle_fixtures import pay_by_card, sub_order_of
from tests.payments.pay_factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _seller(name: str) -> User:
    seller = make_user(Role.SELLER)
    User.objects.filter(pk=seller.pk).update(display_name=name)
    dashboard_keys.dashboard_keys_ensure(seller=seller, password=PASSWORD)
    return User.objects.get(pk=seller.pk)


@pytest.fixture
def world(page, live_server):
    buyer = make_user(Role.BUYER)
    keramik, leinen = _seller("Werkstatt Keramik"), _seller("Leinen & Co")
    order = place_order(
        buyer,
        [
            (make_product(keramik, price=2200), 2),  # €44.00
            (make_product(leinen, price=1500), 1),  # €15.00
        ],
    )
    pay_by_card(order, buyer)  # authorised: each seller's acceptance captures its part
    client = Client()
    client.force_login(buyer)
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    return {
        "order": order,
        "keramik": (keramik, sub_order_of(order, keramik)),
        "leinen": (leinen, sub_order_of(order, leinen)),
    }


def _reads(page, headline: str, payment: str, parts: dict) -> None:
    """The page says this: the headline, the payment line, and per sub-order (state, refunded,
    where the money is)."""
    expect(page.get_by_test_id("order-status")).to_have_text(headline)
    expect(page.get_by_test_id("payment-status")).to_have_text(payment)
    for sub_order, (state, refunded, place) in parts.items():
        expect(page.get_by_test_id(f"sub-order-status-{sub_order.pk}")).to_have_text(state)
        expect(page.get_by_test_id(f"refunded-{sub_order.pk}")).to_have_text(refunded)
        expect(page.get_by_test_id(f"money-place-{sub_order.pk}")).to_have_text(place)


def test_two_sellers_acceptance_partial_refund_and_dispute_read_truthfully(world, page, shots):
    keramik, keramik_part = world["keramik"]
    _leinen, leinen_part = world["leinen"]
    on_card = "Held on your card (authorised, not taken)"

    # 1. Paid by card: nothing taken yet, both sellers still to answer.
    _reads(
        page,
        "Paid (held in escrow)",
        "Authorised (held on your card, not taken)",
        {
            keramik_part: ("Paid, awaiting seller", "—", on_card),
            leinen_part: ("Paid, awaiting seller", "—", on_card),
        },
    )
    shots(page, "paid")

    # 2. One seller accepts: its part is captured into escrow, the other's is still a hold.
    sub_order_accept_with_password(
        sub_order_id=keramik_part.pk,
        seller=keramik,
        password=PASSWORD,
        actor=f"seller:{keramik.pk}",
    )
    page.reload()
    _reads(
        page,
        "With the sellers",
        "Partly captured",
        {
            keramik_part: ("Accepted by seller", "—", "Held by Clearhouse (escrow)"),
            leinen_part: ("Paid, awaiting seller", "—", on_card),
        },
    )
    expect(page.get_by_test_id("escrow-total")).to_have_text("€59.00")
    shots(page, "one-accepted")

    # 3. That seller refunds part of its sale; the refund is paid back.
    refund = refund_create(
        sub_order_id=keramik_part.pk,
        amount_minor=500,
        reason="One cup arrived chipped.",
        actor=f"seller:{keramik.pk}",
    )
    refund_process(refund_id=str(refund.pk))
    page.reload()
    _reads(
        page,
        "Partly refunded",
        "Partly captured, partly refunded (€5.00 back)",
        {
            keramik_part: ("Accepted by seller", "€5.00", "Held by Clearhouse (escrow)"),
            leinen_part: ("Paid, awaiting seller", "—", on_card),
        },
    )
    expect(page.get_by_test_id(f"escrow-{keramik_part.pk}")).to_contain_text("€39.00")
    shots(page, "partly-refunded")

    # 4. The buyer disputes the accepted part from the page.
    section = page.get_by_test_id(f"sub-order-{keramik_part.pk}")
    section.locator("summary", has_text="Open a dispute").click()
    section.get_by_label("What went wrong?").fill("The glaze is cracked on both cups.")
    section.locator("form button[type=submit]").click()
    _reads(
        page,
        "In dispute",
        "Partly captured, partly refunded (€5.00 back)",
        {
            keramik_part: ("Disputed", "€5.00", "Held until the dispute is decided"),
            leinen_part: ("Paid, awaiting seller", "—", on_card),
        },
    )
    # Coloured as what it says (a warning), not as the order row's "paid".
    expect(page.get_by_test_id("order-status")).to_have_class(re.compile(r"\bstatus--disputed\b"))
    shots(page, "disputed")

    # The timeline names the seller of each step, and tells each step once.
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Accepted by seller · Werkstatt Keramik")
    expect(timeline).to_contain_text("Refund requested · Werkstatt Keramik")
    expect(timeline).to_contain_text("Dispute opened · Werkstatt Keramik")
    expect(timeline.locator("li", has_text="Refund requested")).to_have_count(1)
    expect(timeline.locator("li", has_text="Accepted by seller")).to_have_count(1)
    assert "Accepted by seller · Leinen & Co" not in timeline.inner_text()
