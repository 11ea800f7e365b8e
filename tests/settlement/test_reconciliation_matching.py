"""Matching statement lines to payouts, incoming transfers and returns: exact, split, netted,
duplicates, unknown lines, amount and state mismatches, overdue payouts; each match says why."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from payments.flows.models import Payment
from settlement.models import Payout
from settlement.reconciliation.matching import run_matching
from settlement.reconciliation.models import LineMatch, StatementLine, WorkItem
from tests.concurrency import run_together
from tests.payments.test_bank_transfer import start_bank
from tests.settlement.recon_fixtures import Line, import_lines, paid_payout
from tests.settlement.test_payouts import plans  # noqa: F401  (the fee plans fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plans")]
OTHER_IBAN = "GB33BUKB20201555555555"


def rules() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for line_id, rule in LineMatch.objects.order_by("pk").values_list("line_id", "rule"):
        found.setdefault(line_id, []).append(rule)
    return found


def items() -> list[tuple[str, str]]:
    return sorted(WorkItem.objects.filter(status="open").values_list("kind", "summary"))


def line_ids() -> list[int]:
    return list(StatementLine.objects.order_by("pk").values_list("pk", flat=True))


def test_exact_matches_by_end_to_end_id_and_a_repeat_changes_nothing():
    one, two = paid_payout(10_000), paid_payout(2_500)
    import_lines(
        [Line(-10_000, end_to_end_id=one.bank_id), Line(-2_500, end_to_end_id=two.bank_id)]
    )
    result = run_matching()
    assert (result.matched, result.unmatched) == (2, 0)
    first, second = line_ids()
    assert rules() == {first: ["end_to_end_id"], second: ["end_to_end_id"]}
    assert LineMatch.objects.get(line_id=first).payout_id == one.pk
    assert items() == []
    again = run_matching()
    assert (again.matched, again.work_items_opened) == (0, 0)
    assert LineMatch.objects.count() == 2


def test_a_split_payout_matches_all_its_parts():
    payout = paid_payout(10_000)
    import_lines(
        [Line(-6_000, end_to_end_id=payout.bank_id), Line(-4_000, end_to_end_id=payout.bank_id)]
    )
    assert run_matching().matched == 2
    assert set(LineMatch.objects.values_list("rule", "payout_id")) == {
        ("end_to_end_id+split", payout.pk)
    }


def test_a_netted_line_matches_the_payouts_it_sums():
    a = paid_payout(3_000, iban=OTHER_IBAN)
    b = paid_payout(7_000, iban=OTHER_IBAN)
    paid_payout(5_000)  # another IBAN: not part of it
    import_lines([Line(-10_000, counterparty_iban=OTHER_IBAN, counterparty_name="Seller")])
    assert run_matching().matched == 1
    assert set(LineMatch.objects.values_list("rule", "payout_id")) == {
        ("netted:iban+value_date", a.pk),
        ("netted:iban+value_date", b.pk),
    }


def test_without_an_id_one_payout_with_that_amount_and_iban_matches():
    payout = paid_payout(4_200, iban=OTHER_IBAN)
    import_lines([Line(-4_200, counterparty_iban=OTHER_IBAN)])
    assert run_matching().matched == 1
    assert LineMatch.objects.get().rule == "amount+value_date+iban"
    assert LineMatch.objects.get().payout_id == payout.pk


def test_duplicates_unknown_lines_and_mismatches_go_to_the_queue():
    payout, other = paid_payout(10_000), paid_payout(3_000)
    import_lines(
        [
            Line(-10_000, end_to_end_id=payout.bank_id),
            Line(-3_100, end_to_end_id=other.bank_id),
            Line(-77, counterparty_name="Bank fee"),
            Line(500, creditor_reference="RF18539007547034"),
        ],
        statement_id="day-1",
    )
    run_matching()
    import_lines([Line(-10_000, end_to_end_id=payout.bank_id)], statement_id="day-2")
    run_matching()
    kinds = sorted(kind for kind, _ in items())
    assert kinds == ["amount_mismatch", "duplicate", "unknown_line", "unmatched_line"]
    mismatch = WorkItem.objects.get(kind="amount_mismatch")
    assert (mismatch.payout_id, mismatch.difference_minor) == (other.pk, 100)
    assert LineMatch.objects.count() == 1


def test_a_return_matches_the_returned_payout_and_one_the_platform_shows_paid_is_a_case():
    returned = paid_payout(8_000, status="returned")
    paid = paid_payout(6_000)
    import_lines(
        [
            Line(-8_000, end_to_end_id=returned.bank_id),
            Line(8_000, end_to_end_id=returned.bank_id, reversal=True, return_reason="AC04"),
            Line(-6_000, end_to_end_id=paid.bank_id),
            Line(6_000, end_to_end_id=paid.bank_id, reversal=True, return_reason="AC04"),
        ]
    )
    run_matching()
    assert sorted(LineMatch.objects.values_list("kind", "rule")) == [
        ("payout", "end_to_end_id"),
        ("payout", "end_to_end_id"),
        ("payout_return", "end_to_end_id+return"),
    ]
    (case,) = WorkItem.objects.filter(status="open")
    assert (case.kind, case.payout_id) == ("status_mismatch", paid.pk)


def test_incoming_transfers_match_by_rf_reference_under_then_over(buyer_client, order):
    body = start_bank(buyer_client, order)  # 4000 EUR due
    reference = body["next_action"]["reference"]
    payment = Payment.objects.get(bank_reference=reference)
    import_lines([Line(1_500, creditor_reference=reference)], statement_id="in-1")
    run_matching()
    match = LineMatch.objects.get()
    assert (match.rule, match.payment_id, match.detail["outcome"]) == (
        "rf_reference",
        payment.pk,
        "under (partial)",
    )
    import_lines([Line(3_000, creditor_reference=reference)], statement_id="in-2")
    run_matching()
    latest = LineMatch.objects.order_by("-pk").first()
    assert latest.detail == {"due": 4_000, "received": 4_500, "outcome": "over (excess to refund)"}
    (excess,) = WorkItem.objects.filter(status="open")
    assert (excess.kind, excess.difference_minor) == ("overpayment", 500)


def test_a_payout_on_no_statement_past_the_grace_days_is_overdue_until_matched(settings):
    settings.RECONCILIATION_PAYOUT_GRACE_DAYS = 2
    late = paid_payout(9_000)
    Payout.objects.filter(pk=late.pk).update(submitted_at=timezone.now() - dt.timedelta(days=5))
    import_lines([Line(-1, counterparty_name="fee")], statement_id="d1")
    run_matching()
    overdue = WorkItem.objects.get(kind="overdue_payout")
    assert overdue.payout_id == late.pk and overdue.status == "open"
    import_lines([Line(-9_000, end_to_end_id=late.bank_id)], statement_id="d2")
    run_matching()
    overdue.refresh_from_db()
    assert overdue.status == "resolved" and "matched" in overdue.resolution_note


def test_matching_is_set_based_its_statement_count_does_not_grow_with_lines(
    django_assert_max_num_queries,
):
    payouts = [paid_payout(1_000 + i) for i in range(6)]
    import_lines([Line(-p.amount_minor, end_to_end_id=p.bank_id) for p in payouts])
    with django_assert_max_num_queries(30):
        assert run_matching().matched == 6


def test_only_32_hex_digits_are_read_as_a_payout_id():
    payout = paid_payout(1_000)
    hex_id = payout.bank_id
    import_lines(
        [
            Line(-1_000, end_to_end_id=hex_id.upper()),  # the same 32 hex digits: matches
            Line(-1_000, end_to_end_id=hex_id + "0"),  # 33
            Line(-1_000, end_to_end_id=hex_id[:31]),  # 31
            Line(-1_000, end_to_end_id=hex_id[:31] + "g"),  # 32, one not hex
            Line(-1_000, end_to_end_id=str(payout.pk)),  # with hyphens: 36
        ]
    )
    result = run_matching()
    assert (result.matched, result.unmatched) == (1, 4)
    assert LineMatch.objects.get().payout_id == payout.pk
    assert [kind for kind, _ in items()] == ["unmatched_line"] * 4


@pytest.mark.django_db(transaction=True)
def test_two_matching_runs_at_once_match_each_line_once():
    # The daily fetch and a staff member's "match" at the same moment: one waits for the other.
    payouts = [paid_payout(1_000 + i) for i in range(5)]
    import_lines([Line(-p.amount_minor, end_to_end_id=p.bank_id) for p in payouts])

    results = run_together(run_matching, run_matching)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.matched for r in results) == [0, 5]
    assert LineMatch.objects.count() == 5
    assert sorted(LineMatch.objects.values_list("payout_id", flat=True)) == sorted(
        p.pk for p in payouts
    )
    assert not StatementLine.objects.filter(state="unmatched").exists()
