"""The order lifecycle in Chromium, end to end: the buyer pays by card; the seller signs in through
the login page, opens the order and accepts it by re-entering the password; the buyer's open
order page shows the acceptance by itself (htmx polling, no reload); the buyer confirms receipt;
the seller's orders page shows the released money, net of the seller's fee.

Lifecycle events enqueue their webhook/email task on commit: as in the other browser tests the
task is published to the test broker (Redis when REDIS_URL is set, else memory://) and no worker
runs it here; delivery by a real worker is covered by tests/lifecycle's integration tests.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from accounts.dashboard_keys import dashboard_keys_of
from accounts.models import Role, SellerProfile, User
from core.money import Money
from payments.models import Order, Payment, SubOrder
from settlement.fees import fee_for
from tests.lifecycle.release_fixtures import balance as credit  # posted credit, 0 if unused
from tests.storefront.factories import ProductFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CARD = "4242424242424242"  # authorised at once (README: test cards)
SELLER_EMAIL = "werkstatt@example.test"
SELLER_PASSWORD = "kiln fired teapot 42"


@pytest.fixture
def seller():
    """A seller who signed up earlier: profile on the reduced fee plan, dashboard keys locked
    with the password (sign-up makes them, accounts.services.user_sign_up)."""
    from accounts.services import user_sign_up

    user = user_sign_up(
        email=SELLER_EMAIL,
        password=SELLER_PASSWORD,
        role=Role.SELLER,
        display_name="Werkstatt Keramik",
        seller_profile={
            "legal_name": "Werkstatt Keramik GmbH",
            "country": "DE",
            "default_currency": "EUR",
            "settlement_currency": "EUR",
        },
    )
    SellerProfile.objects.filter(user=user).update(fee_plan="reduced")  # staff sets the plan
    assert dashboard_keys_of(user).complete
    return User.objects.get(pk=user.pk)


@pytest.fixture
def buyer_page(signed_in_page):
    return signed_in_page


def _buy_and_pay(page, live_server, product) -> None:
    page.goto(f"{live_server.url}/shop/p/{product.pk}/")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("tfoot")).to_contain_text("€44.00")
    page.get_by_role("link", name="Check out").click()
    page.get_by_label("Full name").fill("Ada Buyer")
    page.get_by_label("Address", exact=True).fill("1 Main Street")
    page.get_by_label("City").fill("Berlin")
    page.get_by_label("Postal code").fill("10115")
    page.get_by_label("Country").select_option("DE")
    page.get_by_label("Card", exact=True).check()
    page.get_by_label("Card number").fill(CARD)
    page.get_by_label("Expiry (MM/YY)").fill("1234")
    page.get_by_label("Security code (CVC)").fill("947")
    page.get_by_label("Name on card").fill("Ada Buyer")
    page.get_by_role("button", name="Place order and pay").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}/$"))


def test_pay_accept_confirm_and_the_seller_sees_the_net(
    buyer_page, browser, live_server, seller, shots, settings
):
    settings.ORDER_PAGE_SELLER_POLL_S = 1  # the buyer's page asks again every second
    started = time.monotonic()
    teapot = ProductFactory(seller=seller, title="Stoneware teapot", price_minor=2200, stock=5)

    # 1. The buyer pays by card; the page shows the money held, awaiting the seller.
    page = buyer_page
    _buy_and_pay(page, live_server, teapot)
    order = Order.objects.get()
    sub_order = SubOrder.objects.get(order=order)
    status = page.get_by_test_id(f"sub-order-status-{sub_order.pk}")
    expect(status).to_have_text("Paid, awaiting seller")
    expect(page.get_by_test_id("escrow-total")).to_have_text("€44.00")
    expect(page.get_by_test_id(f"confirm-{sub_order.pk}")).to_have_count(0)
    shots(page, "buyer-paid")

    # 2. The seller, in a browser of their own, signs in with email and password.
    seller_context = browser.new_context()
    desk = seller_context.new_page()
    desk.set_default_timeout(15_000)
    desk.goto(f"{live_server.url}/accounts/login/")
    desk.get_by_label("Email").fill(SELLER_EMAIL)
    desk.get_by_label("Password").fill(SELLER_PASSWORD)
    desk.get_by_role("button", name=re.compile("Log in", re.I)).click()
    desk.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    expect(desk.get_by_role("heading", name="Your orders")).to_be_visible()
    # A German seller's pages write amounts the German way, the balances as the rest.
    expect(desk.get_by_test_id("balance-escrow-EUR")).to_have_text("44,00\xa0€")
    expect(desk.get_by_test_id("balance-pending-EUR")).to_have_text("0,00\xa0€")
    shots(desk, "seller-orders")
    desk.get_by_role("link", name=order.number).click()
    expect(desk.get_by_test_id("status")).to_have_text("Paid, awaiting seller")

    # 3. A wrong password changes nothing; the right one signs and accepts.
    desk.get_by_label("Your password").fill("not my password")
    desk.get_by_role("button", name="Accept and sign").click()
    expect(desk.locator(".field--error .errorlist")).to_have_text("The password is not right.")
    sub_order.refresh_from_db()
    assert sub_order.status == "awaiting_acceptance"
    desk.get_by_label("Your password").fill(SELLER_PASSWORD)
    desk.get_by_role("button", name="Accept and sign").click()
    expect(desk.get_by_test_id("status")).to_have_text("Accepted by seller")
    shots(desk, "seller-accepted")
    sub_order.refresh_from_db()
    assert sub_order.acceptance_key_id == dashboard_keys_of(seller).signing.id
    assert sub_order.captured_minor == 4400  # accepting captured the buyer's money

    # 4. The buyer's page, left open, shows it without a reload.
    expect(status).to_have_text("Accepted by seller", timeout=20_000)
    shots(page, "buyer-sees-accepted")

    escrow_before = credit("platform:escrow")
    pending_before = credit(f"seller:{seller.pk}:pending")
    fees_before = credit("platform:fees")
    fee = fee_for(seller, Money(4400, "EUR")).amount_minor
    net = 4400 - fee
    assert (fee, net) == (66, 4334)  # the reduced plan: 1.50 %

    # 5. The buyer confirms receipt, after a step that says what will happen: escrow goes to
    #    the seller, less the fee.
    page.get_by_test_id(f"confirm-{sub_order.pk}").click()
    expect(page.get_by_test_id("confirm-what-happens")).to_have_text(
        "Confirming releases €44.00 from escrow to Werkstatt Keramik. It cannot be undone, and "
        "you can no longer open a dispute for this part of the order."
    )
    page.get_by_test_id("confirm-release").click()
    expect(page.locator(".messages")).to_contain_text(
        "Receipt confirmed: €44.00 released to Werkstatt Keramik."
    )
    status = page.get_by_test_id(f"sub-order-status-{sub_order.pk}")
    expect(status).to_have_text("Receipt confirmed")
    expect(page.get_by_test_id(f"money-place-{sub_order.pk}")).to_have_text(
        "Released to the seller"
    )
    expect(page.get_by_test_id("order-status")).to_have_text("Completed")
    expect(page.get_by_test_id(f"escrow-{sub_order.pk}")).to_contain_text("€0.00")
    shots(page, "buyer-confirmed")

    assert credit("platform:escrow") == escrow_before - 4400
    assert credit(f"seller:{seller.pk}:pending") == pending_before + net
    assert credit("platform:fees") == fees_before + fee
    sub_order.refresh_from_db()
    assert (sub_order.status, sub_order.fee_minor) == ("confirmed", fee)
    assert Payment.objects.get().status == "captured"

    # 6. The seller's dashboard shows the pending balance: the net, to the cent.
    desk.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    expect(desk.get_by_test_id("balance-pending-EUR")).to_have_text(
        Money(net, "EUR").format("de_DE")
    )
    expect(desk.get_by_test_id("balance-escrow-EUR")).to_have_text("0,00\xa0€")
    expect(desk.get_by_test_id(f"status-{sub_order.pk}")).to_have_text("Receipt confirmed")
    shots(desk, "seller-balance")
    seller_context.close()
    assert time.monotonic() - started < 60
