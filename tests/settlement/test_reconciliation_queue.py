"""The work queue's actions: adjustments under the two-person rule (the ledger stays balanced, the
requester never approves), manual matches that must add up, resolve with a note, retry a payout;
every action audited with before and after. Then the same through the admin pages."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse

from core.errors import PermissionDenied, ValidationError
from ledger import chart
from ledger.models import Transfer
from ledger.selectors import account_balance, trial_balance
from settlement.models import Payout
from settlement.reconciliation import actions, adjustments
from settlement.reconciliation.matching import run_matching
from settlement.reconciliation.models import (
    Adjustment,
    AuditEntry,
    LineMatch,
    StatementLine,
    WorkItem,
)
from tests.accounts.factories import StaffFactory
from tests.settlement.recon_fixtures import Line, import_lines, paid_payout, statement_bytes
from tests.settlement.test_payouts import plans  # noqa: F401  (the fee plans fixture)
from tests.two_factor import verify_second_factor

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plans")]
INCOMING = chart.external("bank_transfer")


@pytest.fixture
def limit(settings):
    settings.RECONCILIATION_ADJUSTMENT_APPROVAL_MINOR = 1_000
    return 1_000


def balanced() -> bool:
    return all(t.net_posted == 0 and t.net_pending == 0 for t in trial_balance().values())


def adjust(actor, amount, **kw):
    return adjustments.request_adjustment(
        actor=actor,
        currency="EUR",
        amount_minor=amount,
        account_code=kw.pop("account_code", INCOMING),
        direction=kw.pop("direction", "debit"),
        reason=kw.pop("reason", "bank fee not in the ledger"),
        **kw,
    )


def test_a_small_adjustment_posts_at_once_balanced_and_audited(limit):
    staff = StaffFactory()
    adjustment = adjust(staff, 800)
    assert adjustment.status == "posted" and adjustment.approved_by is None
    transfer = Transfer.objects.get(pk=adjustment.transfer_id)
    assert (transfer.amount_minor, transfer.reason) == (800, "reconciliation_adjustment")
    other = account_balance(chart.account(currency="EUR", code=chart.RECON_ADJUSTMENTS))
    assert other.credit_balance == 800 and balanced()
    assert list(adjustment.audit.values_list("action", "actor")) == [
        ("adjustment_requested", staff.pk),
        ("adjustment_posted", staff.pk),
    ]
    posted = adjustment.audit.get(action="adjustment_posted")
    assert posted.before["status"] == "awaiting_approval" and posted.after["status"] == "posted"


def test_a_large_adjustment_needs_a_second_staff_member_never_the_requester(limit):
    requester, approver = StaffFactory(), StaffFactory()
    adjustment = adjust(requester, 5_000)
    assert adjustment.status == "awaiting_approval" and Transfer.objects.count() == 0
    with pytest.raises(PermissionDenied) as own:
        adjustments.approve_adjustment(adjustment.pk, actor=requester)
    assert own.value.field == "approved_by"
    adjustment.refresh_from_db()
    assert adjustment.status == "awaiting_approval" and Transfer.objects.count() == 0
    # The database keeps the rule too.
    with pytest.raises(IntegrityError), transaction.atomic():
        Adjustment.objects.filter(pk=adjustment.pk).update(approved_by=requester)
    adjustments.approve_adjustment(adjustment.pk, actor=approver)
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.approved_by) == ("posted", approver)
    assert Transfer.objects.get(pk=adjustment.transfer_id).amount_minor == 5_000 and balanced()
    assert [entry.actor for entry in adjustment.audit.all()] == [requester, approver]


def test_an_adjustment_without_a_reason_or_by_a_non_staff_member_changes_nothing(limit):
    from tests.accounts.factories import BuyerFactory

    with pytest.raises(ValidationError) as no_reason:
        adjust(StaffFactory(), 500, reason="   ")
    assert no_reason.value.field == "reason"
    with pytest.raises(PermissionDenied):
        adjust(BuyerFactory(), 500)
    assert Adjustment.objects.count() == 0 and Transfer.objects.count() == 0


def test_a_manual_match_must_add_up_unless_an_adjustment_covers_the_difference(limit):
    staff = StaffFactory()
    payout = paid_payout(10_000)
    import_lines([Line(-9_950, counterparty_name="Seller, bank fee taken")])
    run_matching()
    item = WorkItem.objects.get(status="open")
    (line_id,) = StatementLine.objects.values_list("pk", flat=True)
    with pytest.raises(ValidationError) as differs:
        actions.match_by_hand(actor=staff, line_ids=[line_id], payout_id=str(payout.pk))
    assert (differs.value.code, differs.value.field) == ("amounts_differ", "adjustment")
    assert LineMatch.objects.count() == 0 and AuditEntry.objects.count() == 0
    fee = adjust(staff, 50, account_code=chart.BANK, direction="debit", work_item=item)
    actions.match_by_hand(
        actor=staff,
        line_ids=[line_id],
        payout_id=str(payout.pk),
        adjustment_id=fee.pk,
        note="the seller's bank took 0.50",
    )
    match = LineMatch.objects.get()
    assert (match.rule, match.payout_id, match.matched_by) == (
        "manual",
        payout.pk,
        f"staff:{staff.pk}",
    )
    item.refresh_from_db()
    assert item.status == "resolved" and item.owner == staff
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {
        "match_by_hand",
        "resolve",
        "adjustment_posted",
    }
    line_audit = AuditEntry.objects.get(action="match_by_hand")
    assert line_audit.before == {"state": "unmatched"} and line_audit.after["state"] == "matched"


def test_resolve_needs_a_note_and_retry_pays_a_failed_batch_again():
    staff = StaffFactory()
    import_lines([Line(-5, counterparty_name="fee")])
    run_matching()
    item = WorkItem.objects.get()
    with pytest.raises(ValidationError):
        actions.resolve(item.pk, actor=staff, note="")
    actions.resolve(item.pk, actor=staff, note="bank fee, booked monthly")
    item.refresh_from_db()
    assert item.status == "resolved" and item.audit.get().after["status"] == "resolved"

    failed = paid_payout(4_000, status="rejected")
    assert failed.status == "failed"
    outcome = actions.retry_payout(failed.pk, actor=staff)
    assert outcome.startswith("new payout")
    assert Payout.objects.filter(batch_id=failed.batch_id, status="created").count() == 1
    assert AuditEntry.objects.filter(action="retry_payout", payout=failed).exists()


# --- through the admin -------------------------------------------------------------------------


def test_staff_upload_a_statement_and_a_bad_one_is_refused_next_to_the_field(admin_client):
    url = reverse("admin:recon_upload")
    bad = SimpleUploadedFile("x.xml", b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>")
    page = admin_client.post(url, {"file": bad, "format": "auto"})
    assert page.status_code == 200 and b"Refused, nothing imported" in page.content
    assert StatementLine.objects.count() == 0
    good = SimpleUploadedFile("day.xml", statement_bytes([Line(-300, counterparty_name="fee")]))
    done = admin_client.post(url, {"file": good, "format": "auto"}, follow=True)
    assert b"Imported 1 statement(s) with 1 line(s)" in done.content
    assert WorkItem.objects.get().kind == "unknown_line"


def test_the_queue_pages_adjust_approve_and_report(client, limit):
    requester, approver = StaffFactory(), StaffFactory()
    import_lines([Line(2_000, counterparty_name="Unknown payer")])
    run_matching()
    item = WorkItem.objects.get()
    verify_second_factor(client, requester)
    changelist = client.get(reverse("admin:settlement_workitem_changelist"))
    assert changelist.status_code == 200 and b"unknown_line" in changelist.content
    assert (
        client.get(reverse("admin:settlement_workitem_change", args=[item.pk])).status_code == 200
    )
    no_reason = client.post(
        reverse("admin:recon_item_adjust", args=[item.pk]),
        {"account_code": INCOMING, "direction": "debit", "amount": "20.00", "currency": "EUR"},
    )
    assert b"An adjustment needs a reason." in no_reason.content
    assert Adjustment.objects.count() == 0
    client.post(
        reverse("admin:recon_item_adjust", args=[item.pk]),
        {
            "account_code": INCOMING,
            "direction": "debit",
            "amount": "20.00",
            "currency": "EUR",
            "reason": "a payment with no reference",
        },
    )
    adjustment = Adjustment.objects.get()
    own = client.post(reverse("admin:recon_adjustment_approve", args=[adjustment.pk]))
    assert b"cannot approve your own" in own.content
    report = client.get(reverse("admin:recon_report"), {"day": str(item.opened_at.date())})
    assert b"Differences" in report.content
    verify_second_factor(client, approver)
    client.post(reverse("admin:recon_adjustment_approve", args=[adjustment.pk]))
    adjustment.refresh_from_db()
    assert adjustment.status == "posted"
    client.post(
        reverse("admin:recon_item_resolve", args=[item.pk]), {"note": "adjusted: unknown payer"}
    )
    report = client.get(reverse("admin:recon_report"), {"day": str(item.opened_at.date())})
    assert b"Clean: every check agrees" in report.content
    csv_page = client.get(
        reverse("admin:recon_report"), {"day": str(item.opened_at.date()), "format": "csv"}
    )
    assert b"bank movement vs ledger,2000,2000,0" in csv_page.content
