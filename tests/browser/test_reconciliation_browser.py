"""Reconciliation in Chromium: a staff member signs in to the admin with a TOTP code, imports the
bank's statement, sees the daily report differ, asks for an adjustment of the bank's fee that a
second staff member (signed in with their own code) approves, matches the line by hand to the
payout with it, and the daily report turns clean."""

from __future__ import annotations

import re

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from settlement.reconciliation.models import Adjustment, StatementLine, WorkItem
from tests.accounts.factories import PASSWORD, StaffFactory
from tests.settlement.recon_fixtures import Line, paid_payout, statement_bytes, today

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, base: str, user, device) -> None:
    page.goto(f"{base}/admin/login/")
    page.locator("input[name=username]").fill(user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=otp_token]").fill(f"{totp(device.bin_key):06d}")
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_be_visible()
    expect(page).not_to_have_url(re.compile("/login/"))


def test_staff_reconcile_a_day_with_two_factor_and_a_second_pair_of_eyes(
    page, browser, live_server, settings, shots
):
    settings.RECONCILIATION_ADJUSTMENT_APPROVAL_MINOR = 10  # 0.10 EUR: the fee needs approval
    page.set_default_timeout(15_000)
    base = live_server.url
    payout = paid_payout(10_000)
    alice, bob = StaffFactory(), StaffFactory()
    alice_device = TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    bob_device = TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)

    # 1. Without the second factor the admin stays shut; with it, Alice is in.
    page.goto(f"{base}/admin/")
    expect(page).to_have_url(re.compile("/admin/login/"))
    sign_in(page, base, alice, alice_device)

    # 2. She imports the bank's statement: the payout arrived less a 0.50 fee, without its id.
    page.goto(f"{base}/admin/settlement/bankstatement/upload/")
    page.locator("input[name=file]").set_input_files(
        files=[
            {
                "name": "day.xml",
                "mimeType": "application/xml",
                "buffer": statement_bytes([Line(-9_950, counterparty_name="Seller, fee taken")]),
            }
        ]
    )
    page.locator("input[value=Import]").click()
    expect(page.locator(".messagelist")).to_contain_text("Imported 1 statement(s) with 1 line(s)")
    item = WorkItem.objects.get(status="open")
    assert item.kind == "unknown_line"

    report_url = f"{base}/admin/settlement/bankstatement/report/?day={today().isoformat()}"
    page.goto(report_url)
    expect(page.locator("#report-verdict")).to_contain_text("Differences")
    shots(page, "report-differs")

    # 3. She asks for an adjustment of the fee: above the limit, it waits for a second person.
    page.goto(f"{base}/admin/settlement/workitem/{item.pk}/change/")
    page.get_by_role("link", name="Create an adjustment").click()
    page.locator("select[name=account_code]").select_option("external:bank")
    page.locator("select[name=direction]").select_option("debit")
    page.locator("input[name=amount]").fill("0.50")
    page.locator("input[name=currency]").fill("EUR")
    page.locator("textarea[name=reason]").fill("the seller's bank took a 0.50 fee")
    page.locator("input[value=Create]").click()
    expect(page.locator(".messagelist")).to_contain_text("waits for a second staff member")
    adjustment = Adjustment.objects.get()
    page.goto(f"{base}/admin/settlement/adjustment/{adjustment.pk}/approve/")
    page.locator("input[value=Approve]").click()
    expect(page.locator(".errornote")).to_contain_text("cannot approve your own adjustment")

    # 4. Bob, signed in with his own code, approves it.
    other = browser.new_context()
    bob_page = other.new_page()
    bob_page.set_default_timeout(15_000)
    sign_in(bob_page, base, bob, bob_device)
    bob_page.goto(f"{base}/admin/settlement/adjustment/{adjustment.pk}/approve/")
    bob_page.locator("input[value=Approve]").click()
    expect(bob_page.locator(".messagelist")).to_contain_text("approved and posted")
    other.close()

    # 5. Alice matches the line to the payout by hand, naming the adjustment.
    page.goto(f"{base}/admin/settlement/workitem/{item.pk}/change/")
    page.get_by_role("link", name="Match by hand").click()
    expect(page.locator("input[name=lines]")).to_have_value(str(item.line_id))
    page.locator("input[name=payout]").fill(str(payout.pk))
    page.locator("input[name=adjustment]").fill(str(adjustment.pk))
    page.locator("input[name=note]").fill("fee taken by the seller's bank")
    page.locator("input[value=Match]").click()
    expect(page.locator(".messagelist")).to_contain_text("Matched.")
    assert StatementLine.objects.get().state == "matched"

    # 6. The day is clean.
    page.goto(report_url)
    expect(page.locator("#report-verdict")).to_contain_text("Clean")
    shots(page, "report-clean")
