"""The beat task's work against the real sandbox bank process: the day's camt.053 is fetched,
imported and matched (a buyer's transfer quoting an RF reference matches its payment); fetching
it again changes nothing and says so."""

from __future__ import annotations

import datetime as dt

import pytest

from settlement.reconciliation import tasks
from settlement.reconciliation.models import LineMatch, StatementLine
from tests.payments.test_bank_transfer import start_bank
from tests.settlement.bank_process import (  # noqa: F401  (fixtures)
    calm_bank,
    sandbox_bank,
)
from tests.settlement.recon_fixtures import row_counts

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.sandbox_bank,
    pytest.mark.xdist_group("sandbox_bank"),
]


def test_the_day_s_statement_is_fetched_imported_matched_and_a_refetch_is_a_no_op(
    request, monkeypatch, buyer_client, order
):
    bank = request.getfixturevalue("calm_bank")
    monkeypatch.setattr(tasks, "get_bank_gateway", bank.gateway)
    reference = start_bank(buyer_client, order)["next_action"]["reference"]
    operator = bank.operator()
    operator.incoming(reference=reference, amount_minor=4_000, currency="EUR", debtor_name="Bo")
    today = dt.datetime.now(dt.UTC).date()

    first = tasks.fetch_statement(today)
    assert first["lines"] >= 1 and first["message"].startswith("Imported")
    line = StatementLine.objects.get(creditor_reference=reference)
    assert line.amount_minor == 4_000 and line.state == "matched"
    match = LineMatch.objects.get(line=line)
    assert (match.rule, match.detail["outcome"]) == ("rf_reference", "exact")

    before = row_counts()
    again = tasks.fetch_statement(today)
    assert "nothing changed" in again["message"] and again["lines"] == 0
    assert row_counts() == before
