"""The two-sided confirmation in Chromium: once the seller is paid, the seller acknowledges the
payout on the payouts page (the password signs the statement with the dashboard key), the buyer
acknowledges on the order page, and both download the final receipt (the buyer the signed JSON,
which tools/verify_receipt.py verifies; the seller the PDF)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import expect

from ledger.seals import ledger_seal
from settlement.confirmations.models import Acknowledgement, AckState
from tests.accounts.factories import PASSWORD
from tests.lifecycle.accept_fixtures import key_pool_fixture  # noqa: F401  (the key_pool fixture)
from tests.settlement.confirmation_fixtures import paid_sale, with_dashboard_keys
from tests.settlement.test_verify_receipt import published_keys, run_tool

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    page.context.clear_cookies()
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )


def test_seller_and_buyer_acknowledge_in_the_browser_and_download_the_final_receipt(
    page, live_server, key_pool, shots, tmp_path
):
    paid = paid_sale(key_pool)
    with_dashboard_keys(paid.sale.seller)
    page.set_default_timeout(15_000)

    # 1. The seller sees the paid payout waiting on the payouts page, and signs with the password.
    sign_in(page, live_server, paid.sale.seller)
    page.goto(f"{live_server.url}/settlement/payouts/")
    card = page.get_by_test_id(f"ack-{paid.seller_ack.pk}")
    expect(card).to_contain_text(paid.payout.bank_reference)
    card.get_by_label("Your password").fill("not the password")
    card.get_by_test_id("ack-received").click()
    expect(page.locator(".errorlist")).to_contain_text("The password is not right.")
    shots(page, "seller-wrong-password")
    card = page.get_by_test_id(f"ack-{paid.seller_ack.pk}")
    card.get_by_label("Your password").fill(PASSWORD)
    card.get_by_test_id("ack-received").click()
    expect(page.get_by_text("Payout acknowledged: your signature is recorded.")).to_be_visible()
    expect(page.get_by_test_id(f"ack-{paid.seller_ack.pk}")).to_have_count(0)
    shots(page, "seller-acknowledged")
    paid.seller_ack.refresh_from_db()
    assert paid.seller_ack.state == AckState.GIVEN

    # 2. The buyer acknowledges on the order page.
    sign_in(page, live_server, paid.sale.buyer)
    page.goto(f"{live_server.url}/orders/{paid.sale.order.pk}/")
    card = page.get_by_test_id(f"ack-{paid.buyer_ack.pk}")
    expect(card).to_contain_text(paid.sale.order.number)
    shots(page, "buyer-asked")
    card.get_by_test_id("ack-received").click()
    expect(page.get_by_text("Thank you: your acknowledgement is recorded.")).to_be_visible()
    expect(page.get_by_test_id(f"ack-{paid.buyer_ack.pk}")).to_have_count(0)
    assert Acknowledgement.objects.get(pk=paid.buyer_ack.pk).state == AckState.GIVEN

    # 3. The receipt is final; once sealed, the buyer downloads the signed JSON, which verifies.
    page.get_by_test_id(f"receipt-page-{paid.sale.sub_order.pk}").click()
    expect(page.get_by_test_id("receipt-status")).to_contain_text("Final receipt.")
    expect(page.get_by_test_id("receipt-record-state")).to_have_text("complete")
    ledger_seal()  # what the beat's seal task does every minute
    page.reload()
    expect(page.get_by_test_id("receipt-sealed")).to_contain_text("in the ledger's log")
    shots(page, "buyer-receipt")
    with page.expect_download() as download:
        page.get_by_test_id("receipt-json").click()
    with open(download.value.path(), encoding="utf-8") as handle:
        receipt = json.load(handle)
    assert receipt["receipt"]["status"] == "final"
    result = run_tool(tmp_path, receipt, published_keys())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "VERIFIED"

    # 4. The seller downloads the same receipt as a PDF from the receipt page.
    sign_in(page, live_server, paid.sale.seller)
    page.goto(f"{live_server.url}/settlement/orders/{paid.sale.order.pk}/receipt")
    expect(page.get_by_test_id("receipt-status")).to_contain_text("Final receipt.")
    with page.expect_download() as download:
        page.get_by_test_id("receipt-pdf").click()
    assert download.value.suggested_filename.endswith(".pdf")
    with open(download.value.path(), "rb") as handle:
        assert handle.read(5) == b"%PDF-"
