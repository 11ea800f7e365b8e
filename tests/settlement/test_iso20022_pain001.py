"""pain.001.001.09 credit transfer files for payouts.

The file must be what a bank accepts (the official XSD, read by xmlschema: a second validator, not
the lxml one the writer checks itself with), carry every amount exactly in its currency's
decimals, and refuse what cannot be paid rather than guess.
"""

import datetime as dt
from decimal import Decimal

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from settlement.iso20022 import pain001
from settlement.iso20022.amounts import parse_amount
from settlement.iso20022.errors import InvalidCreditTransfer
from settlement.iso20022.pain001 import NAMESPACE, CreditTransferLine, Party, credit_transfer_file
from settlement.iso20022.schemas import xsd_path

NS = {"p": NAMESPACE}
CREATED_AT = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
EXECUTION_DATE = dt.date(2026, 3, 2)
PLATFORM = Party("Clearhouse Ltd", "DE89 3704 0044 0532 0130 00", "COBADEFFXXX")


@pytest.fixture(scope="module")
def official_schema():
    return xmlschema.XMLSchema(xsd_path("pain.001.001.09"))


def line(end_to_end_id="po0001", amount_minor=123456, currency="EUR", **fields):
    defaults = {
        "creditor_name": "Anna Schmidt",
        "creditor_iban": "DE75512108001245126199",
        "remittance": "Clearhouse payout 2026-03-01",
    }
    if currency != "EUR":
        defaults.update(creditor_iban="GB82WEST12345698765432", creditor_bic="NWBKGB2L")
    return CreditTransferLine(end_to_end_id, amount_minor, currency, **{**defaults, **fields})


def write(payments, **overrides):
    arguments = {
        "message_id": "batch-2026-03-01-0001",
        "created_at": CREATED_AT,
        "debtor": PLATFORM,
        "payments": payments,
        "requested_execution_date": EXECUTION_DATE,
        **overrides,
    }
    return credit_transfer_file(**arguments)


def texts(root, path):
    return [element.text for element in root.xpath(path, namespaces=NS)]


# --- valid files -----------------------------------------------------------------------------


def test_a_euro_file_is_valid_pain_001_001_09_and_goes_by_sepa(official_schema):
    xml = write([line("po0001", 123456), line("po0002", 5)])

    official_schema.validate(xml.decode())  # raises with the XSD's reason if not
    root = etree.fromstring(xml)
    assert root.tag == f"{{{NAMESPACE}}}Document"
    assert texts(root, "//p:GrpHdr/p:MsgId") == ["batch-2026-03-01-0001"]
    assert texts(root, "//p:GrpHdr/p:CreDtTm") == ["2026-03-01T09:30:00+00:00"]
    assert texts(root, "//p:PmtInf/p:PmtTpInf/p:SvcLvl/p:Cd") == ["SEPA"]
    assert texts(root, "//p:PmtInf/p:ChrgBr") == ["SLEV"]
    assert texts(root, "//p:PmtInf/p:ReqdExctnDt/p:Dt") == ["2026-03-02"]
    assert texts(root, "//p:DbtrAcct/p:Id/p:IBAN") == ["DE89370400440532013000"]
    assert texts(root, "//p:CdtTrfTxInf/p:Amt/p:InstdAmt") == ["1234.56", "0.05"]
    assert texts(root, "//p:PmtInf/p:CtrlSum") == ["1234.61"]
    assert texts(root, "//p:GrpHdr/p:CtrlSum") == ["1234.61"]


def test_the_official_schema_does_refuse_a_file_that_breaks_it(official_schema):
    # The checks above would pass vacuously if the validator accepted anything.
    xml = write([line()]).replace(b'<InstdAmt Ccy="EUR">1234.56', b'<InstdAmt Ccy="EUR">-1234.56')

    with pytest.raises(xmlschema.XMLSchemaValidationError):
        official_schema.validate(xml.decode())


def test_the_end_to_end_id_is_the_payout_id_and_lines_keep_their_order():
    xml = write([line("po-b", 200), line("po-a", 100), line("po-c", 300)])

    assert texts(etree.fromstring(xml), "//p:EndToEndId") == ["po-b", "po-a", "po-c"]


@pytest.mark.parametrize(
    ("currency", "amount_minor", "text"),
    [
        ("JPY", 1000, "1000"),  # no minor unit: 1000 yen, not 10.00
        ("JPY", 1, "1"),
        ("KWD", 1234, "1.234"),  # three decimals: 1.234 dinar
        ("KWD", 5, "0.005"),
        ("EUR", 100000, "1000.00"),
        ("CLF", 12345, "1.2345"),  # four decimals
    ],
)
def test_amounts_carry_exactly_the_currency_decimals(official_schema, currency, amount_minor, text):
    xml = write([line("po0001", amount_minor, currency)])

    official_schema.validate(xml.decode())
    root = etree.fromstring(xml)
    assert texts(root, "//p:InstdAmt") == [text]
    assert root.xpath("//p:InstdAmt/@Ccy", namespaces=NS) == [currency]
    assert texts(root, "//p:PmtInf/p:CtrlSum") == [text]


def test_several_currencies_make_one_payment_information_each(official_schema):
    payments = [
        line("po1", 1000, "JPY"),
        line("po2", 10050, "EUR"),
        line("po3", 1234, "KWD"),
        line("po4", 999, "EUR"),
        line("po5", 250000, "JPY"),
        line("po6", 4200, "USD"),
    ]

    xml = write(payments)

    official_schema.validate(xml.decode())
    root = etree.fromstring(xml)
    groups = root.xpath("//p:PmtInf", namespaces=NS)
    assert [
        group.xpath("p:CdtTrfTxInf[1]/p:Amt/p:InstdAmt/@Ccy", namespaces=NS)[0] for group in groups
    ] == [
        "EUR",
        "JPY",
        "KWD",
        "USD",
    ]
    assert [texts(group, "p:NbOfTxs")[0] for group in groups] == ["2", "2", "1", "1"]
    assert [texts(group, "p:CtrlSum")[0] for group in groups] == [
        "110.49",
        "251000",
        "1.234",
        "42.00",
    ]
    assert [texts(group, ".//p:EndToEndId") for group in groups] == [
        ["po2", "po4"],
        ["po1", "po5"],
        ["po3"],
        ["po6"],
    ]
    assert texts(root, "//p:PmtInf/p:PmtInfId") == [
        f"batch-2026-03-01-0001-{n}" for n in (1, 2, 3, 4)
    ]
    # Only the euro group goes by SEPA; the others share charges.
    assert [texts(group, "p:ChrgBr")[0] for group in groups] == ["SLEV", "SHAR", "SHAR", "SHAR"]
    assert len(root.xpath("//p:PmtTpInf", namespaces=NS)) == 1
    # The group header: every transaction, and the plain sum of every amount (ISO's definition).
    assert texts(root, "//p:GrpHdr/p:NbOfTxs") == ["6"]
    assert texts(root, "//p:GrpHdr/p:CtrlSum") == [
        str(Decimal("110.49") + 251000 + Decimal("1.234") + 42)
    ]


def test_a_line_with_its_own_execution_date_gets_its_own_payment_information():
    later = dt.date(2026, 3, 5)
    xml = write(
        [
            line("po1", 100),
            line("po2", 200, requested_execution_date=later),
            line("po3", 300),
        ]
    )

    root = etree.fromstring(xml)
    assert texts(root, "//p:ReqdExctnDt/p:Dt") == ["2026-03-02", "2026-03-05"]
    assert [
        texts(group, ".//p:EndToEndId") for group in root.xpath("//p:PmtInf", namespaces=NS)
    ] == [
        ["po1", "po3"],
        ["po2"],
    ]


def test_each_payout_is_booked_on_its_own_so_the_statement_shows_it():
    root = etree.fromstring(write([line("po1", 100), line("po2", 200)]))

    assert texts(root, "//p:BtchBookg") == ["false"]


def test_the_same_payouts_give_the_same_bytes():
    payments = [line("po1", 100), line("po2", 2000, "JPY"), line("po3", 7, "KWD")]

    assert write(payments) == write(list(payments))


def test_a_debtor_without_bic_is_marked_not_provided(official_schema):
    xml = write([line()], debtor=Party("Clearhouse Ltd", "DE89370400440532013000"))

    official_schema.validate(xml.decode())
    assert texts(etree.fromstring(xml), "//p:DbtrAgt/p:FinInstnId/p:Othr/p:Id") == ["NOTPROVIDED"]


# --- text: SEPA's character set, lengths ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("Müller & Søn GmbH", "Muller + Son GmbH"),
        ("Łukasz Żółć", "Lukasz Zolc"),
        ("Straßenbahn Café", "Strassenbahn Cafe"),
        ("  Jean-Luc   O\u2019Neill ", "Jean-Luc O'Neill"),
        ("Ærøskøbing Œuvres", "AEroskobing OEuvres"),
    ],
)
def test_euro_names_are_transliterated_to_sepa_latin(official_schema, name, written):
    xml = write([line(creditor_name=name)])

    official_schema.validate(xml.decode())
    assert texts(etree.fromstring(xml), "//p:Cdtr/p:Nm") == [written]


@pytest.mark.parametrize(
    ("name", "character"), [("Иван Петров", "И"), ("山田太郎", "山"), ("Anna @ Home", "@")]
)
def test_euro_names_outside_sepa_latin_are_refused_naming_the_character(name, character):
    with pytest.raises(InvalidCreditTransfer) as refused:
        write([line(creditor_name=name)])

    assert refused.value.code == "invalid_characters"
    assert refused.value.field == "payments[0].creditor_name"
    assert refused.value.extra == {"character": character}


def test_other_currencies_keep_names_in_their_own_script(official_schema):
    xml = write(
        [line(currency="JPY", amount_minor=5000, creditor_name="山田太郎", remittance="支払い")]
    )

    official_schema.validate(xml.decode())
    root = etree.fromstring(xml)
    assert texts(root, "//p:Cdtr/p:Nm") == ["山田太郎"]
    assert texts(root, "//p:RmtInf/p:Ustrd") == ["支払い"]


def test_control_characters_are_refused_in_any_currency():
    with pytest.raises(InvalidCreditTransfer) as refused:
        write([line(currency="JPY", creditor_name="Sato\u202eHanako")])  # right-to-left override

    assert refused.value.code == "invalid_characters"


@pytest.mark.parametrize(
    ("currency", "longest"),
    [("EUR", 70), ("JPY", 140)],  # the EPC's limit for SEPA names; ISO's Max140Text otherwise
)
def test_names_up_to_the_limit_pass_and_one_more_is_refused(currency, longest):
    write([line(currency=currency, creditor_name="A" * longest)])

    with pytest.raises(InvalidCreditTransfer) as refused:
        write([line(currency=currency, creditor_name="A" * (longest + 1))])

    assert refused.value.code == "text_too_long"
    assert refused.value.field == "payments[0].creditor_name"


def test_the_limit_counts_the_transliterated_text():
    with pytest.raises(InvalidCreditTransfer) as refused:
        write([line(creditor_name="ß" * 36)])  # 36 characters, 72 once written as "ss"

    assert refused.value.code == "text_too_long"


def test_an_empty_remittance_is_left_out_and_a_long_one_refused():
    root = etree.fromstring(write([line(remittance="  ")]))
    assert root.xpath("//p:RmtInf", namespaces=NS) == []

    with pytest.raises(InvalidCreditTransfer) as refused:
        write([line(remittance="x" * 141)])
    assert (refused.value.code, refused.value.field) == ("text_too_long", "payments[0].remittance")


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payment", "code", "field"),
    [
        (line(creditor_iban="DE89370400440532013001"), "invalid_iban", "creditor_iban"),
        (line(creditor_iban="not an iban"), "invalid_iban", "creditor_iban"),
        (line(amount_minor=0), "invalid_amount", "amount_minor"),
        (line(amount_minor=-500), "invalid_amount", "amount_minor"),
        (line(amount_minor=True), "invalid_amount", "amount_minor"),
        (line(amount_minor=12.5), "invalid_amount", "amount_minor"),
        (line(amount_minor=Decimal("12.50")), "invalid_amount", "amount_minor"),
        (line(amount_minor=10**18, currency="JPY"), "invalid_amount", "amount_minor"),  # 19 digits
        (line(currency="XAU"), "currency_without_minor_unit", "currency"),
        (line(currency="XXX"), "currency_without_minor_unit", "currency"),
        (line(currency="ABC"), "invalid_currency", "currency"),
        (line(currency=978), "invalid_currency", "currency"),
        (line(end_to_end_id="p" * 36), "id_too_long", "end_to_end_id"),
        (line(end_to_end_id=""), "invalid_id", "end_to_end_id"),
        (line(end_to_end_id="po 1"), "invalid_id", "end_to_end_id"),
        (line(end_to_end_id="pö1"), "invalid_id", "end_to_end_id"),
        (line(end_to_end_id="/po1"), "invalid_id", "end_to_end_id"),
        (line(end_to_end_id="po//1"), "invalid_id", "end_to_end_id"),
        (line(creditor_bic="NOTABIC"), "invalid_bic", "creditor_bic"),
        (line(currency="USD", creditor_bic=""), "bic_required", "creditor_bic"),
        (line(creditor_iban="BR1800360305000010009795493C1"), "iban_outside_sepa", "creditor_iban"),
        (line(creditor_name=""), "empty_text", "creditor_name"),
        (line(creditor_name=None), "invalid_text", "creditor_name"),
        (
            line(requested_execution_date=dt.datetime(2026, 3, 2, tzinfo=dt.UTC)),
            "invalid_date",
            "requested_execution_date",
        ),
    ],
)
def test_a_payment_that_cannot_be_paid_is_refused_with_its_reason(payment, code, field):
    good = line("po-good", 100)

    with pytest.raises(InvalidCreditTransfer) as refused:
        write([good, payment])

    assert refused.value.code == code
    assert refused.value.field == f"payments[1].{field}"
    assert refused.value.http_status == 400


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"payments": []}, "empty_batch", "payments"),
        ({"payments": "po1"}, "invalid_batch", "payments"),
        ({"payments": [("po1", 100, "EUR")]}, "invalid_batch", "payments[0]"),
        ({"message_id": "m" * 36}, "id_too_long", "message_id"),
        ({"message_id": "batch 1"}, "invalid_id", "message_id"),
        ({"created_at": dt.datetime(2026, 3, 1, 9, 30)}, "invalid_datetime", "created_at"),
        ({"created_at": "2026-03-01T09:30:00Z"}, "invalid_datetime", "created_at"),
        ({"requested_execution_date": "2026-03-02"}, "invalid_date", "requested_execution_date"),
        ({"debtor": Party("Clearhouse", "DE00123")}, "invalid_iban", "debtor.iban"),
        (
            {"debtor": Party("Кліархаус", "DE89370400440532013000")},
            "invalid_characters",
            "debtor.name",
        ),
        ({"debtor": ("Clearhouse", "DE89370400440532013000")}, "invalid_party", "debtor"),
        (
            {"debtor": Party("Clearhouse", "SA0380000000608010167519")},
            "iban_outside_sepa",
            "debtor.iban",
        ),
    ],
)
def test_a_file_that_cannot_be_made_is_refused_with_its_reason(overrides, code, field):
    overrides = dict(overrides)
    payments = overrides.pop("payments", [line()])

    with pytest.raises(InvalidCreditTransfer) as refused:
        write(payments, **overrides)

    assert (refused.value.code, refused.value.field) == (code, field)


def test_one_payout_twice_in_a_file_is_refused():
    with pytest.raises(InvalidCreditTransfer) as refused:
        write([line("po1", 100), line("po2", 200), line("po1", 100)])

    assert (refused.value.code, refused.value.field) == (
        "duplicate_end_to_end_id",
        "payments[2].end_to_end_id",
    )


def test_a_file_over_the_transaction_limit_is_refused(monkeypatch):
    monkeypatch.setattr(pain001, "MAX_TRANSACTIONS", 3)
    write([line(f"po{n}", 100) for n in range(3)])

    with pytest.raises(InvalidCreditTransfer) as refused:
        write([line(f"po{n}", 100) for n in range(4)])

    assert refused.value.code == "too_many_transactions"


def test_a_control_sum_over_eighteen_digits_is_refused():
    # Each amount fits ISO's 18 digits; their sum does not.
    with pytest.raises(InvalidCreditTransfer) as refused:
        write([line("po1", 10**18 - 1, "JPY"), line("po2", 1, "JPY")])

    assert refused.value.code == "control_sum_too_large"


def test_the_writer_checks_its_own_output_against_the_schema(monkeypatch):
    # Were a bug to render an amount badly, the file would not leave the writer.
    monkeypatch.setattr(pain001, "render_amount", lambda amount_minor, currency: "-12.34")

    with pytest.raises(InvalidCreditTransfer) as refused:
        write([line()])

    assert refused.value.code == "schema_violation"


# --- properties -----------------------------------------------------------------------------

CURRENCIES = ["EUR", "USD", "GBP", "JPY", "KRW", "KWD", "BHD", "CLF"]
lines_strategy = st.lists(
    st.tuples(st.sampled_from(CURRENCIES), st.integers(min_value=1, max_value=10**13)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(lines_strategy)
def test_every_amount_round_trips_and_each_control_sum_is_the_sum_of_its_lines(drawn):
    payments = [
        line(f"po{index}", amount_minor, currency, creditor_bic="NWBKGB2L")
        for index, (currency, amount_minor) in enumerate(drawn)
    ]
    by_id = {payment.end_to_end_id: payment for payment in payments}

    root = etree.fromstring(write(payments))

    for transaction in root.xpath("//p:CdtTrfTxInf", namespaces=NS):
        (amount,) = transaction.xpath("p:Amt/p:InstdAmt", namespaces=NS)
        payment = by_id[texts(transaction, "p:PmtId/p:EndToEndId")[0]]
        assert amount.get("Ccy") == payment.currency
        assert parse_amount(amount.text, amount.get("Ccy")) == payment.amount_minor
    for group in root.xpath("//p:PmtInf", namespaces=NS):
        amounts = group.xpath("p:CdtTrfTxInf/p:Amt/p:InstdAmt", namespaces=NS)
        (currency,) = {amount.get("Ccy") for amount in amounts}
        assert int(texts(group, "p:NbOfTxs")[0]) == len(amounts)
        assert parse_amount(texts(group, "p:CtrlSum")[0], currency) == sum(
            by_id[texts(tx, "p:PmtId/p:EndToEndId")[0]].amount_minor
            for tx in group.xpath("p:CdtTrfTxInf", namespaces=NS)
        )
    assert int(texts(root, "//p:GrpHdr/p:NbOfTxs")[0]) == len(payments)
    assert Decimal(texts(root, "//p:GrpHdr/p:CtrlSum")[0]) == sum(
        Decimal(amount) for amount in texts(root, "//p:InstdAmt")
    )
