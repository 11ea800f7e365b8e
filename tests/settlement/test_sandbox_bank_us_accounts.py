"""US accounts (ABA routing + account number) at the sandbox bank, in process: opened, paid,
refused when unknown or malformed, shown on the camt.053 statement; a bank file made before them
opens upgraded with its rows kept; and a payout to one is a valid pain.001 line."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from sandbox_bank import validation
from sandbox_bank.banking import Bank
from sandbox_bank.camt053 import statement_xml
from sandbox_bank.config import BankConfig
from sandbox_bank.errors import BadRequest
from sandbox_bank.faults import Faults, Knobs
from sandbox_bank.store import Database
from settlement.iso20022.errors import InvalidCreditTransfer
from settlement.iso20022.pain001 import NAMESPACE, CreditTransferLine, Party, credit_transfer_file
from settlement.iso20022.schemas import xsd_path

V1_SCHEMA = Path(__file__).with_name("sandbox_bank_v1_schema.sql")
ROUTING, NUMBER, HOLDER = "021000021", "000123456789", "Hudson Goods LLC"


@pytest.fixture
def bank(tmp_path) -> Bank:
    db = Database(tmp_path / "bank.sqlite3")
    db.create_schema()
    return Bank(db, BankConfig(db_path=db.path), Faults(Knobs(settle_delay_ms=0)))


def transfer(payout_id: str, **account) -> dict:
    return {
        "payout_id": payout_id,
        "amount_minor": 12_345,
        "currency": "USD",
        "creditor_name": HOLDER,
        "remittance": "Clearhouse payout",
        **account,
    }


@pytest.mark.parametrize("number", ["021000021", "0210-0002-1", "011000015", "322271627"])
def test_aba_routing_numbers_with_their_check_digit_are_accepted(number):
    assert validation.aba_routing_number(number) == number.replace("-", "")


@pytest.mark.parametrize(
    "number", ["021000022", "02100002", "0210000211", "991000021", "ABCDEFGHI", "", None, 21000021]
)
def test_routing_numbers_that_are_not_aba_are_refused(number):
    with pytest.raises(BadRequest) as refused:
        validation.aba_routing_number(number, field="creditor_routing_number")
    assert (refused.value.code, refused.value.field) == (
        "invalid_routing_number",
        "creditor_routing_number",
    )


def test_a_us_account_is_opened_paid_and_shown_on_the_statement(bank):
    account, created = bank.open_account(
        {
            "routing_number": ROUTING,
            "account_number": NUMBER,
            "holder_name": HOLDER,
            "currency": "USD",
        }
    )
    again, created_again = bank.open_account(
        {
            "routing_number": ROUTING,
            "account_number": NUMBER,
            "holder_name": HOLDER,
            "currency": "USD",
        }
    )
    assert (created, created_again, again) == (True, False, account)
    assert (account["iban"], account["routing_number"], account["account_number"]) == (
        "",
        ROUTING,
        NUMBER,
    )

    sent, _ = bank.submit_transfer(
        transfer("po0001", creditor_routing_number=ROUTING, creditor_account_number=NUMBER),
        idempotency_key="po0001",
    )
    assert (sent["status"], sent["creditor_iban"], sent["creditor_account_number"]) == (
        "accepted",
        "",
        NUMBER,
    )
    assert bank.settle_due() == 1
    assert bank.transfer("po0001")["status"] == "paid"
    (held,) = [a for a in bank.list_accounts(platform=False) if a["routing_number"] == ROUTING]
    assert held["balance_minor"] == 12_345

    today = dt.datetime.now(dt.UTC).date()
    xml = statement_xml(bank.statement_accounts(today), today)
    creditor_ids = etree.fromstring(xml).xpath(
        "//c:RltdPties/c:CdtrAcct/c:Id/c:Othr/c:Id/text()",
        namespaces={"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"},
    )
    assert creditor_ids == [NUMBER]


def test_a_transfer_to_an_unknown_us_account_is_rejected_and_moves_no_money(bank):
    bank.submit_transfer(
        transfer("po0002", creditor_routing_number=ROUTING, creditor_account_number="55554444"),
        idempotency_key="po0002",
    )
    bank.settle_due()
    assert (bank.transfer("po0002")["status"], bank.transfer("po0002")["failure_code"]) == (
        "rejected",
        "invalid_account",
    )


@pytest.mark.parametrize(
    ("account", "field"),
    [
        (
            {"creditor_routing_number": "021000022", "creditor_account_number": NUMBER},
            "creditor_routing_number",
        ),
        (
            {"creditor_routing_number": ROUTING, "creditor_account_number": "12"},
            "creditor_account_number",
        ),
        (
            {
                "creditor_iban": "DE89370400440532013000",
                "creditor_routing_number": ROUTING,
                "creditor_account_number": NUMBER,
            },
            "creditor_iban",
        ),
    ],
)
def test_a_malformed_us_account_is_refused_before_anything_is_written(bank, account, field):
    with pytest.raises(BadRequest) as refused:
        bank.submit_transfer(transfer("po0003", **account), idempotency_key="po0003")
    assert refused.value.field == field
    assert bank.transfer("po0003") is None


def test_a_bank_file_from_before_us_accounts_opens_upgraded_with_its_rows(tmp_path):
    path = tmp_path / "bank.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(V1_SCHEMA.read_text())
    old.execute(
        "INSERT INTO accounts (iban, bic, holder_name, currency, opening_balance_minor,"
        " balance_minor, created_at) VALUES ('DE89370400440532013000', '', 'Anna', 'EUR', 0, 7,"
        " '2026-01-01T00:00:00.000000Z')"
    )
    old.execute(
        "INSERT INTO bookings (account_id, amount_minor, kind, end_to_end_id, bank_reference,"
        " counterparty_name, counterparty_iban, remittance, booked_at, booked_on)"
        " VALUES (1, 7, 'transfer', 'po', 'SBT1', 'X', 'Y', '', 'x', '2026-01-01')"
    )
    old.commit()
    old.close()

    db = Database(path)
    db.create_schema()
    bank = Bank(db, BankConfig(db_path=path), Faults(Knobs()))

    assert bank.account("DE89370400440532013000")["balance_minor"] == 7
    bank.open_account(
        {
            "routing_number": ROUTING,
            "account_number": NUMBER,
            "holder_name": HOLDER,
            "currency": "USD",
        }
    )
    assert db.connection().execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.connection().execute("SELECT count(*) FROM bookings").fetchone()[0] == 1
    db.create_schema()  # and again: nothing left to upgrade
    assert len(bank.list_accounts(platform=False)) == 2


def test_a_payout_to_a_us_account_is_a_valid_pain_001_line():
    xml = credit_transfer_file(
        message_id="batch-us-1",
        created_at=dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC),
        debtor=Party("Clearhouse Ltd", "DE89370400440532013000", "COBADEFFXXX"),
        payments=[
            CreditTransferLine(
                "po0001",
                12_345,
                "USD",
                creditor_name=HOLDER,
                creditor_iban="",
                creditor_routing_number=ROUTING,
                creditor_account_number=NUMBER,
            )
        ],
        requested_execution_date=dt.date(2026, 3, 2),
    )
    xmlschema.XMLSchema(xsd_path("pain.001.001.09")).validate(xml.decode())
    root = etree.fromstring(xml)
    ns = {"p": NAMESPACE}
    assert root.xpath(
        "//p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:ClrSysId/p:Cd/text()", namespaces=ns
    ) == ["USABA"]
    assert root.xpath("//p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId/text()", namespaces=ns) == [
        ROUTING
    ]
    assert root.xpath("//p:CdtrAcct/p:Id/p:Othr/p:Id/text()", namespaces=ns) == [NUMBER]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"currency": "EUR"}, "iban_required"),
        ({"creditor_routing_number": "021000022"}, "invalid_routing_number"),
        ({"creditor_iban": "DE75512108001245126199"}, "invalid_account"),
    ],
)
def test_a_us_line_that_cannot_be_paid_is_refused(fields, code):
    payment = {
        "end_to_end_id": "po0001",
        "amount_minor": 100,
        "currency": "USD",
        "creditor_name": HOLDER,
        "creditor_iban": "",
        "creditor_routing_number": ROUTING,
        "creditor_account_number": NUMBER,
        **fields,
    }
    with pytest.raises(InvalidCreditTransfer) as refused:
        credit_transfer_file(
            message_id="batch-us-2",
            created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
            debtor=Party("Clearhouse Ltd", "DE89370400440532013000", "COBADEFFXXX"),
            payments=[CreditTransferLine(**payment)],
            requested_execution_date=dt.date(2026, 3, 2),
        )
    assert refused.value.code == code
