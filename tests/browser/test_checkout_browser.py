"""A buyer shops from two sellers and pays, in Chromium: by card through 3-D Secure, and by wallet.

The wallet's notification is delivered in-process here: the sandbox wallet's Celery task is run
eagerly (its `.delay` calls the task body at once, which POSTs the signed notification to the live
server over real HTTP). Delivery by a real worker is covered by the integration suite.
"""

from __future__ import annotations

import logging
import re
import subprocess

import pytest
from django.db import connection
from playwright.sync_api import expect

from config import embedded_db
from payments.models import Order, OrderStatus, Payment, PaymentStatus, Product
from tests.storefront.factories import ProductFactory, SellerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAN_3DS = "4000000000003220"
CVC = "047"  # a leading zero: no id, amount or counter in the dump can look like it


@pytest.fixture
def catalogue():
    seller_a = SellerFactory(display_name="Rheinland Handel")
    seller_b = SellerFactory(display_name="Hudson Goods")
    mug = ProductFactory(seller=seller_a, title="Ceramic mug", price_minor=2200, stock=5)
    towel = ProductFactory(seller=seller_b, title="Tea towel", price_minor=1450, stock=4)
    return mug, towel


@pytest.fixture
def wallet_notices_in_process(settings, live_server, monkeypatch):
    from payments.providers import tasks as payment_tasks

    settings.PAYMENTS_PUBLIC_BASE_URL = live_server.url
    task = payment_tasks.sandbox_wallet_deliver_notice
    monkeypatch.setattr(task, "delay", lambda *args: task.apply(args=args))


def _fill_cart(page, live_server, shots, mug, towel):
    page.goto(f"{live_server.url}/shop/")
    shots(page, "shop")
    page.get_by_role("link", name="Ceramic mug").click()
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added “Ceramic mug” to your cart.")).to_be_visible()
    page.goto(f"{live_server.url}/shop/p/{towel.pk}/")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("tfoot")).to_contain_text("€58.50")  # 2 x 22.00 + 14.50
    shots(page, "cart")
    page.get_by_role("link", name="Check out").click()


def _fill_address(page):
    page.get_by_label("Full name").fill("Ada Buyer")
    page.get_by_label("Address", exact=True).fill("1 Main Street")
    page.get_by_label("City").fill("Berlin")
    page.get_by_label("Postal code").fill("10115")
    page.get_by_label("Country").select_option("DE")


def _expect_paid_with_escrow(page, shots):
    status = page.get_by_test_id("order-status")
    expect(status).to_have_text("Paid (held in escrow)")
    expect(page.get_by_test_id("escrow-total")).to_have_text("€58.50")
    order = Order.objects.get()
    for sub_order in order.sub_orders.all():
        expect(page.get_by_test_id(f"escrow-{sub_order.pk}")).to_contain_text(
            f"€{sub_order.amount_minor / 100:.2f}"
        )
    shots(page, "order-paid")
    return order


def test_card_checkout_through_3ds_then_nothing_secret_in_the_database_or_logs(
    signed_in_page, live_server, catalogue, shots, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    page = signed_in_page
    mug, towel = catalogue
    _fill_cart(page, live_server, shots, mug, towel)
    _fill_address(page)
    page.get_by_label("Card", exact=True).check()
    page.get_by_label("Card number").fill(PAN_3DS)
    expect(page.get_by_label("Card number")).to_have_value("4000 0000 0000 3220")  # formatted by JS
    page.get_by_label("Expiry (MM/YY)").fill("1234")
    expect(page.get_by_label("Expiry (MM/YY)")).to_have_value("12/34")
    page.get_by_label("Security code (CVC)").fill(CVC)
    page.get_by_label("Name on card").fill("Ada Buyer")
    shots(page, "checkout-filled")
    page.get_by_role("button", name="Place order and pay").click()

    expect(page).to_have_url(re.compile(r"/pay/3ds/"))
    shots(page, "3ds-challenge")
    page.get_by_role("button", name="Complete authentication").click()
    page.get_by_role("link", name="Continue to your order").click()
    order = _expect_paid_with_escrow(page, shots)
    assert order.status == OrderStatus.PAID and order.total_minor == 5850
    assert Payment.objects.get().status == PaymentStatus.AUTHORIZED
    assert [Product.objects.get(pk=p.pk).stock for p in (mug, towel)] == [3, 3]

    # The whole database and everything logged: no PAN (in any grouping) and no CVC.
    dump = _database_dump()
    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err
    # The dump really holds this checkout (order number, the card's last four digits).
    assert order.number in dump and "3220" in dump
    for text, where in ((dump, "database dump"), (logs, "logs")):
        assert PAN_3DS not in re.sub(r"[ -]", "", text), f"PAN found in the {where}"
        assert not re.search(r"(?<![0-9A-Za-z])" + CVC + r"(?![0-9A-Za-z])", text), (
            f"CVC in {where}"
        )


def test_wallet_checkout_approved_in_the_sandbox_wallet(
    signed_in_page, live_server, catalogue, shots, wallet_notices_in_process
):
    page = signed_in_page
    mug, towel = catalogue
    _fill_cart(page, live_server, shots, mug, towel)
    _fill_address(page)
    page.get_by_label("Alipay-style wallet").check()
    expect(page.get_by_label("Card number")).to_be_hidden()  # the card fields step aside
    page.get_by_role("button", name="Place order and pay").click()

    expect(page).to_have_url(re.compile(r"/pay/wallet/"))
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    shots(page, "wallet-qr")
    page.get_by_role("link", name="Open the sandbox wallet in this browser").click()
    page.get_by_role("button", name="Approve payment").click()
    expect(page.get_by_text("Payment approved in the wallet.")).to_be_visible()
    shots(page, "wallet-approved")
    page.get_by_role("link", name="Return to the shop").click()
    page.get_by_role("link", name="Continue to your order").click()
    order = _expect_paid_with_escrow(page, shots)
    payment = Payment.objects.get()
    assert (payment.method, payment.provider, payment.status) == (
        "wallet",
        "alipay",
        PaymentStatus.AUTHORIZED,
    )
    assert order.status == OrderStatus.PAID


def test_order_page_updates_live_while_waiting_for_the_wallet(
    signed_in_page, live_server, catalogue, shots, wallet_notices_in_process
):
    """The order page shows 'Awaiting payment' and turns to paid by itself (htmx polling)."""
    page = signed_in_page
    mug, towel = catalogue
    _fill_cart(page, live_server, shots, mug, towel)
    _fill_address(page)
    page.get_by_label("WeChat-style wallet").check()
    page.get_by_role("button", name="Place order and pay").click()
    expect(page).to_have_url(re.compile(r"/pay/wallet/"))
    order = Order.objects.get()
    approve_url = page.get_by_role(
        "link", name="Open the sandbox wallet in this browser"
    ).get_attribute("href")

    page.goto(f"{live_server.url}/orders/{order.pk}/")
    expect(page.get_by_test_id("order-status")).to_have_text("Awaiting payment")
    shots(page, "order-waiting")
    wallet = page.context.new_page()  # the buyer's phone
    wallet.goto(f"{live_server.url}{approve_url}")
    wallet.get_by_role("button", name="Approve payment").click()
    expect(wallet.get_by_text("Payment approved in the wallet.")).to_be_visible()
    # No reload: the status panel polls and swaps itself.
    expect(page.get_by_test_id("order-status")).to_have_text(
        "Paid (held in escrow)", timeout=10_000
    )
    shots(page, "order-updated-live")


def _database_dump() -> str:
    # The embedded wheel's pg_dump (PostgreSQL 18) reads any server from 15 on; the machine's may
    # be older than the embedded server, or absent.
    params = connection.get_connection_params()
    command = [
        str(embedded_db.bin_dir() / "pg_dump"),
        "--data-only",
        "--no-owner",
        "-h",
        params.get("host") or "127.0.0.1",
        "-U",
        params.get("user") or "postgres",
        "-p",
        str(params.get("port") or 5432),
        params["dbname"],
    ]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120).stdout
