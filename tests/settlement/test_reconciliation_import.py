"""Statement import: camt.053, MT940 and CSV read into lines; re-import is a no-op that says so;
every bad file (not XML, wrong namespace, XXE, billion laughs, deep nesting, too many decimals,
CSV with wrong columns) is refused before any row is written; a statement sent again with other
content is refused naming the difference, and the daily fetch queues it for staff."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from settlement.iso20022.errors import InvalidStatement
from settlement.reconciliation import tasks
from settlement.reconciliation.formats import CSV_COLUMNS
from settlement.reconciliation.imports import StatementConflict, import_statement_file
from settlement.reconciliation.models import BankStatement, StatementLine, WorkItem
from tests.settlement.recon_fixtures import (
    PLATFORM_IBAN,
    Line,
    import_lines,
    row_counts,
    statement_bytes,
    today,
)

pytestmark = pytest.mark.django_db
SAMPLES = Path(__file__).parent / "iso20022_samples"
EMPTY = {
    "StatementFile": 0,
    "BankStatement": 0,
    "StatementLine": 0,
    "LineMatch": 0,
    "WorkItem": 0,
    "AuditEntry": 0,
}


def test_a_camt053_statement_becomes_its_lines():
    result = import_lines(
        [
            Line(-12_345, end_to_end_id="a" * 32),
            Line(4_000, creditor_reference="RF18539007547034"),
            Line(-99, counterparty_name="Bank fee"),
        ]
    )
    assert (len(result.statements), result.lines, result.format) == (1, 3, "camt053")
    statement = BankStatement.objects.get()
    assert (statement.account_iban, statement.opening_minor, statement.closing_minor) == (
        PLATFORM_IBAN,
        1_000_000,
        1_000_000 - 12_345 + 4_000 - 99,
    )
    lines = list(StatementLine.objects.order_by("position"))
    assert [(line.amount_minor, line.state) for line in lines] == [
        (-12_345, "unmatched"),
        (4_000, "unmatched"),
        (-99, "unmatched"),
    ]
    assert lines[0].end_to_end_id == "a" * 32
    assert lines[1].creditor_reference == "RF18539007547034"


def test_the_repository_samples_import():
    result = import_statement_file(
        (SAMPLES / "camt053_001_08_eur.xml").read_bytes(), filename="x.xml", actor="test"
    )
    assert result.lines >= 4 and StatementLine.objects.filter(status="PDNG").exists()


def test_reimporting_the_same_file_or_the_same_statement_changes_nothing_and_says_so():
    first = import_lines([Line(-500)], statement_id="S-1")
    assert first.statements
    before = row_counts()
    again = import_lines([Line(-500)], statement_id="S-1")
    assert again.already_imported and "nothing changed" in again.message
    assert row_counts() == before
    # The same statement sent again in another message (other bytes) is skipped too.
    other_bytes = statement_bytes([Line(-500)], statement_id="S-1", message_id="RESENT-1")
    skipped = import_statement_file(other_bytes, filename="other.xml", actor="test")
    assert skipped.statements == [] and skipped.skipped == ["S-1"]
    assert "already imported" in skipped.message and row_counts() == before


@pytest.mark.parametrize(
    ("first", "again", "named"),
    [
        (
            [Line(-500, end_to_end_id="a" * 32)],
            [Line(-500, end_to_end_id="b" * 32)],
            f"line 1: end_to_end_id '{'a' * 32}', now '{'b' * 32}'",
        ),
        ([Line(-500)], [Line(-500), Line(-20)], "closing balance 999500, now 999480"),
        (
            [Line(-500), Line(-20, counterparty_name="Fee")],
            [Line(-500), Line(-20, counterparty_name="Fees")],
            "line 2: counterparty_name 'Fee', now 'Fees'",
        ),
    ],
)
def test_a_statement_sent_again_with_other_content_is_refused_naming_the_difference(
    first, again, named
):
    import_lines(first, statement_id="S-2")
    before = row_counts()
    changed = statement_bytes(again, statement_id="S-2", message_id="CORRECTED")
    with pytest.raises(StatementConflict) as refused:
        import_statement_file(changed, filename="corrected.xml", actor="test")
    assert refused.value.code == "statement_conflict" and refused.value.field == "file"
    assert named in str(refused.value) and "nothing imported" in str(refused.value)
    assert row_counts() == before


def test_a_changed_counterparty_account_is_named_without_its_number():
    import_lines([Line(-500, counterparty_iban="DE89370400440532013000")], statement_id="S-3")
    changed = statement_bytes(
        [Line(-500, counterparty_iban="GB33BUKB20201555555555")], statement_id="S-3"
    )
    with pytest.raises(StatementConflict) as refused:
        import_statement_file(changed, filename="corrected.xml", actor="test")
    message = str(refused.value)
    assert "line 1: counterparty_iban changed" in message
    assert "DE89" not in message and "GB33" not in message


class _BankSending:
    """A bank gateway whose statement of any day is these bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def statement(self, *, day) -> bytes:
        return self.data


def test_the_daily_fetch_queues_a_statement_sent_again_changed_once_for_staff(monkeypatch):
    import_lines([Line(-500)], statement_id="S-5")
    changed = statement_bytes([Line(-499)], statement_id="S-5")
    monkeypatch.setattr(tasks, "get_bank_gateway", lambda: _BankSending(changed))
    first = tasks.fetch_statement(today())
    again = tasks.fetch_statement(today())
    item = WorkItem.objects.get(kind="statement_conflict", status="open")
    assert first["work_item"] == again["work_item"] == item.pk
    assert item.statement == BankStatement.objects.get(statement_id="S-5")
    assert "closing balance 999500, now 999501" in item.summary
    assert StatementLine.objects.count() == 1


MT940 = """:20:STARTUMS
:25:DE02120300000000202051
:28C:00061/001
:60F:C261207EUR10000,00
:61:2612071207D1234,56NTRFNONREF//2026030200001
:86:EREF+{e2e} SVWZ+Payout
:61:2612071207C50,00NTRFNONREF//2026030200003
:86:RF18539007547034 Buyer
:62F:C261207EUR8815,44
"""


def test_mt940_is_read_with_end_to_end_id_and_rf_reference():
    result = import_statement_file(
        MT940.format(e2e="b" * 32).encode(), filename="day.sta", actor="test"
    )
    assert result.format == "mt940" and result.lines == 2
    debit, credit = StatementLine.objects.order_by("position")
    assert (debit.amount_minor, debit.end_to_end_id) == (-123_456, "b" * 32)
    assert (credit.amount_minor, credit.creditor_reference) == (5_000, "RF18539007547034")


def csv_file(rows: list[str], header: str = ",".join(CSV_COLUMNS)) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


CSV_ROWS = [
    f"opening,{PLATFORM_IBAN},EUR,C-1,2026-12-07,100.00,CRDT,,,,,,",
    f"entry,{PLATFORM_IBAN},EUR,C-1,2026-12-07,12.50,DBIT,{'c' * 32},,B1,Anna,DE89370400440532013000,",
    f"entry,{PLATFORM_IBAN},EUR,C-1,2026-12-07,40.00,CRDT,,RF18539007547034,B2,Bob,,",
    f"closing,{PLATFORM_IBAN},EUR,C-1,2026-12-07,127.50,CRDT,,,,,,",
]


def test_csv_in_the_documented_layout_is_read():
    result = import_statement_file(csv_file(CSV_ROWS), filename="day.csv", actor="test")
    assert result.format == "csv" and result.lines == 2
    assert list(
        StatementLine.objects.order_by("position").values_list("amount_minor", flat=True)
    ) == [
        -1250,
        4000,
    ]


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&x;</Document>"""
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    )
    + b']><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&j;</Document>'
)
DEEP = (
    b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
    + b"<a>" * 10_000
    + b"</a>" * 10_000
    + b"</Document>"
)


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("not XML", b"this is not a statement at all", "malformed_xml"),
        ("wrong namespace", b'<Document xmlns="urn:other"><x/></Document>', "unsupported_message"),
        ("external entity", XXE, "unsafe_xml"),
        ("billion laughs", LAUGHS, "unsafe_xml"),
        ("10,000-level nesting", DEEP, "malformed_xml"),
        (
            "too many decimals",
            statement_bytes([Line(-100)]).replace(b">1.00<", b">1.001<"),
            "invalid_amount",
        ),
    ],
)
def test_each_bad_statement_is_refused_before_any_row_is_written(name, data, code):
    with pytest.raises(InvalidStatement) as refused:
        import_statement_file(data, filename="attack.xml", actor="test")
    assert refused.value.code == code, refused.value.message
    assert row_counts() == EMPTY


def test_a_csv_with_wrong_columns_or_decimals_is_refused_and_nothing_written():
    with pytest.raises(InvalidStatement) as wrong:
        import_statement_file(
            csv_file(CSV_ROWS, header="date,amount,what"), filename="x.csv", actor="test"
        )
    assert (wrong.value.code, wrong.value.field) == ("wrong_columns", "header")
    decimals = [CSV_ROWS[0], CSV_ROWS[1].replace("12.50", "12.505"), *CSV_ROWS[2:]]
    with pytest.raises(InvalidStatement) as inexact:
        import_statement_file(csv_file(decimals), filename="x.csv", actor="test")
    assert (inexact.value.code, inexact.value.field) == ("invalid_amount", "row 3")
    assert row_counts() == EMPTY


def test_the_command_imports_matches_and_refuses_clearly(tmp_path):
    good = tmp_path / "day.xml"
    good.write_bytes(statement_bytes([Line(-700)]))
    out = StringIO()
    call_command("import_statement", str(good), stdout=out)
    assert "Imported 1 statement(s) with 1 line(s)" in out.getvalue()
    assert "0 line(s); 1 unmatched" in out.getvalue().replace("Matched ", "")
    out = StringIO()
    call_command("import_statement", str(good), stdout=out)
    assert "already imported: nothing changed" in out.getvalue()
    bad = tmp_path / "bad.xml"
    bad.write_bytes(XXE)
    before = row_counts()
    with pytest.raises(CommandError, match="refused, nothing imported"):
        call_command("import_statement", str(bad))
    assert row_counts() == before
