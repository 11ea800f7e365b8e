"""camt.053 bank statements, .001.02 to .001.08: read exactly, refused when hostile or wrong.

The samples in iso20022_samples/ are hand-written as banks send them (see the comment atop each):
the platform's EUR account in .02 and the same day in .08, a JPY account in .08 and a KWD
account in .02, with single payouts, batch bookings, returns (RvslInd) and incoming transfers.
"""

import datetime as dt
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from settlement.iso20022.camt053 import SUPPORTED_VERSIONS, parse_statement, parse_statements
from settlement.iso20022.errors import InvalidStatement, UnsafeXml
from settlement.iso20022.pain001 import NAMESPACE as PAIN_NAMESPACE
from settlement.iso20022.pain001 import CreditTransferLine, Party, credit_transfer_file
from settlement.iso20022.statements import Balance

SAMPLES = Path(__file__).parent / "iso20022_samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def edited(name: str, old: str, new: str, count: int = 1) -> bytes:
    text = sample(name).decode()
    assert old in text, f"{old!r} is not in {name}"
    return text.replace(old, new, count).encode()


def summary(entry):
    return (
        entry.end_to_end_id,
        entry.credit_debit,
        entry.amount_minor,
        entry.status,
        entry.reversal,
        entry.counterparty_name,
    )


# --- the samples ----------------------------------------------------------------------------


def test_a_camt_053_001_02_statement_reads_exactly():
    statement = parse_statement(sample("camt053_001_02_eur.xml"))

    assert statement.version == "camt.053.001.02"
    assert statement.message_id == "COBA20260302221503-0061"
    assert statement.statement_id == "0061-2026-03-02"
    assert statement.account_iban == "DE89370400440532013000"
    assert statement.currency == "EUR"
    assert statement.created_at == dt.datetime(
        2026, 3, 2, 22, 15, 3, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert statement.opening_balance == Balance(1_000_000, "EUR", dt.date(2026, 3, 1))
    assert statement.closing_balance == Balance(860_534, "EUR", dt.date(2026, 3, 2))
    assert [summary(entry) for entry in statement.entries] == [
        ("po0001", "DBIT", 123456, "BOOK", False, "Muller + Son GmbH"),
        ("po0002", "DBIT", 10000, "BOOK", False, "Anna Schmidt"),
        ("po0003", "DBIT", 15000, "BOOK", False, "Jan de Vries"),
        ("po0004", "DBIT", 5000, "BOOK", False, "Maria Rossi"),
        ("po0004", "CRDT", 5000, "BOOK", True, "Maria Rossi"),
        ("", "CRDT", 8990, "BOOK", False, "Erika Mustermann"),
        ("", "DBIT", 1000, "PDNG", False, ""),
    ]
    first = statement.entries[0]
    assert first.counterparty_iban == "FR1420041010050500013M02606"
    assert first.bank_reference == "2026030200001"
    assert first.remittance == "Clearhouse payout 2026-03-01"
    assert first.bank_transaction_code == "PMNT/ICDT/ESCT"
    assert (first.booking_date, first.value_date) == (dt.date(2026, 3, 2), dt.date(2026, 3, 2))


def test_the_same_day_in_camt_053_001_08_reads_to_the_same_entries():
    old = parse_statement(sample("camt053_001_02_eur.xml"))
    new = parse_statement(sample("camt053_001_08_eur.xml"))

    assert new.version == "camt.053.001.08"
    assert new.entries == old.entries
    assert (new.account_iban, new.currency) == (old.account_iban, old.currency)
    assert new.closing_balance == old.closing_balance
    assert new.created_at == dt.datetime(
        2026, 3, 2, 22, 15, 3, 481000, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )


@pytest.mark.parametrize("name", ["camt053_001_02_eur.xml", "camt053_001_08_eur.xml"])
def test_a_batch_booking_becomes_one_entry_per_payout(name):
    statement = parse_statement(sample(name))

    batch = [entry for entry in statement.entries if entry.entry_reference == "2"]
    assert [(entry.end_to_end_id, entry.amount_minor) for entry in batch] == [
        ("po0002", 10000),
        ("po0003", 15000),
        ("po0004", 5000),
    ]
    assert [entry.counterparty_iban for entry in batch] == [
        "DE75512108001245126199",
        "NL91ABNA0417164300",
        "IT60X0542811101000000123456",
    ]
    assert [entry.bank_reference for entry in batch] == [f"2026030200002-{n}" for n in (1, 2, 3)]
    assert sum(entry.amount_minor for entry in batch) == 30000  # the booking's 300.00


@pytest.mark.parametrize("name", ["camt053_001_02_eur.xml", "camt053_001_08_eur.xml"])
def test_a_returned_payout_reads_as_a_reversal_with_its_reason(name):
    statement = parse_statement(sample(name))

    (returned,) = [entry for entry in statement.entries if entry.reversal]
    assert returned.end_to_end_id == "po0004"
    assert (returned.credit_debit, returned.signed_amount_minor) == ("CRDT", 5000)
    assert returned.return_reason == "AC04"
    assert returned.bank_transaction_code == "PMNT/ICDT/RRTN"
    # The other side of the original payout: the seller, not the platform itself.
    assert returned.counterparty_name == "Maria Rossi"
    assert returned.counterparty_iban == "IT60X0542811101000000123456"


@pytest.mark.parametrize("name", ["camt053_001_02_eur.xml", "camt053_001_08_eur.xml"])
def test_an_incoming_transfer_carries_the_payers_creditor_reference(name):
    statement = parse_statement(sample(name))

    (incoming,) = [entry for entry in statement.entries if entry.creditor_reference]
    assert incoming.creditor_reference == "RF18539007547034"
    assert incoming.end_to_end_id == ""  # NOTPROVIDED
    assert (incoming.counterparty_name, incoming.counterparty_iban) == (
        "Erika Mustermann",
        "DE02120300000000202051",
    )


def test_pending_entries_are_read_but_do_not_move_the_balance():
    statement = parse_statement(sample("camt053_001_02_eur.xml"))

    assert [entry.status for entry in statement.entries].count("PDNG") == 1
    assert len(statement.booked_entries) == len(statement.entries) - 1
    assert (
        statement.opening_balance.amount_minor
        + sum(entry.signed_amount_minor for entry in statement.booked_entries)
        == statement.closing_balance.amount_minor
    )


def test_a_jpy_statement_reads_whole_yen():
    statement = parse_statement(sample("camt053_001_08_jpy.xml"))

    assert (statement.currency, statement.account_iban) == ("JPY", "GB33BUKB20201555555555")
    assert statement.opening_balance.amount_minor == 1_000_000
    assert statement.closing_balance.amount_minor == 735_000
    assert [summary(entry) for entry in statement.entries] == [
        ("po1001", "DBIT", 150000, "BOOK", False, "山田太郎"),
        ("po1002", "DBIT", 120000, "BOOK", False, "Sato Hanako"),
        ("po1003", "DBIT", 180000, "BOOK", False, "株式会社ミドリ"),
        ("po1003", "CRDT", 180000, "BOOK", True, "株式会社ミドリ"),
        ("", "CRDT", 5000, "BOOK", False, "Suzuki Ichiro"),
    ]
    first = statement.entries[0]
    assert first.counterparty_iban == ""  # a Japanese account number, not an IBAN
    assert first.booking_date == dt.date(2026, 3, 5)  # given as a date and time
    assert statement.entries[3].return_reason == "AC01"


def test_a_kwd_statement_reads_fils_exactly():
    statement = parse_statement(sample("camt053_001_02_kwd.xml"))

    assert statement.currency == "KWD"
    assert statement.opening_balance == Balance(2_500_000, "KWD", dt.date(2026, 3, 3))
    assert statement.closing_balance == Balance(1_237_155, "KWD", dt.date(2026, 3, 4))
    assert [(entry.end_to_end_id, entry.signed_amount_minor) for entry in statement.entries] == [
        ("po2001", -1_250_500),
        ("po2002", -5),
        ("po2002", 5),
        ("po2003", -10_000),
        ("po2004", -2_345),
    ]


MINIMAL = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}">
<BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-03-02T22:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2026-03-02T22:00:00</CreDtTm>
<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-02</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">12.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Dt><Dt>2026-03-02</Dt></Dt></Bal>
<Ntry><Amt Ccy="EUR">112.50</Amt><CdtDbtInd>DBIT</CdtDbtInd>{status}
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><TxDtls><Refs><EndToEndId>po9</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>"""


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("status", ["<Sts>BOOK</Sts>", "<Sts><Cd>BOOK</Cd></Sts>"])
def test_every_supported_version_reads_with_either_form_of_status(version, status):
    statement = parse_statement(MINIMAL.format(version=version, status=status).encode())

    assert statement.version == f"camt.053.001.{version}"
    (entry,) = statement.entries
    assert (entry.end_to_end_id, entry.status, entry.signed_amount_minor) == ("po9", "BOOK", -11250)
    # An overdrawn account: the closing balance is a debit.
    assert statement.closing_balance.amount_minor == -1250
    # No time zone in the file: read as UTC unless told otherwise.
    assert statement.created_at == dt.datetime(2026, 3, 2, 22, 0, tzinfo=dt.UTC)


def test_a_time_without_offset_is_read_in_the_zone_given():
    berlin = dt.timezone(dt.timedelta(hours=1))
    xml = MINIMAL.format(version="08", status="<Sts><Cd>BOOK</Cd></Sts>").encode()

    statement = parse_statement(xml, assume_timezone=berlin)

    assert statement.created_at == dt.datetime(2026, 3, 2, 22, 0, tzinfo=berlin)


def test_several_statements_in_one_message():
    text = sample("camt053_001_02_eur.xml").decode()
    stmt = text[text.index("<Stmt>") : text.index("</Stmt>") + len("</Stmt>")]
    xml = text.replace(stmt, stmt + stmt.replace("0061-2026-03-02", "0061-2026-03-02-B")).encode()

    statements = parse_statements(xml)

    assert [statement.statement_id for statement in statements] == [
        "0061-2026-03-02",
        "0061-2026-03-02-B",
    ]
    assert statements[0].entries == statements[1].entries
    with pytest.raises(InvalidStatement) as refused:
        parse_statement(xml)
    assert refused.value.code == "several_statements"


# --- a payout file, booked by a bank, reads back -----------------------------------------------


def book_as_bank(pain001: bytes, *, account_iban: str, opening_minor_text: str) -> bytes:
    """What a bank's statement of the day would show for a pain.001 file: one debit per payout.

    A test double of the bank, in camt.053.001.08; the closing balance is left for the caller.
    """
    ns = {"p": PAIN_NAMESPACE}
    root = etree.fromstring(pain001)
    entries = []
    for transaction in root.xpath("//p:CdtTrfTxInf", namespaces=ns):
        (amount,) = transaction.xpath("p:Amt/p:InstdAmt", namespaces=ns)
        (end_to_end_id,) = transaction.xpath("p:PmtId/p:EndToEndId/text()", namespaces=ns)
        (name,) = transaction.xpath("p:Cdtr/p:Nm/text()", namespaces=ns)
        entries.append(
            f'<Ntry><Amt Ccy="{amount.get("Ccy")}">{amount.text}</Amt><CdtDbtInd>DBIT</CdtDbtInd>'
            "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-03-02</Dt></BookgDt>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly>"
            f"</Domn></BkTxCd><NtryDtls><TxDtls><Refs><EndToEndId>{end_to_end_id}</EndToEndId>"
            f"</Refs><RltdPties><Cdtr><Pty><Nm>{name}</Nm></Pty></Cdtr></RltdPties></TxDtls>"
            "</NtryDtls></Ntry>"
        )
    currency = root.xpath("//p:InstdAmt/@Ccy", namespaces=ns)[0]
    balance = (
        '<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">{amount}</Amt>'
        "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-02</Dt></Dt></Bal>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>BANK-1</MsgId><CreDtTm>2026-03-02T22:00:00Z</CreDtTm></GrpHdr>"
        f"<Stmt><Id>S-1</Id><Acct><Id><IBAN>{account_iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
        + balance.format(code="OPBD", currency=currency, amount=opening_minor_text)
        + balance.format(code="CLBD", currency=currency, amount="{closing}")
        + "".join(entries)
        + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()


@settings(max_examples=40, deadline=None)
@given(
    currency=st.sampled_from(["EUR", "JPY", "KWD", "USD", "BHD"]),
    amounts=st.lists(st.integers(min_value=1, max_value=10**11), min_size=1, max_size=20),
)
def test_a_payout_file_booked_by_the_bank_reads_back_to_the_same_payouts(currency, amounts):
    from settlement.iso20022.amounts import render_amount

    payouts = {f"po{index:04d}": amount for index, amount in enumerate(amounts)}
    pain001 = credit_transfer_file(
        message_id="batch-1",
        created_at=dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC),
        debtor=Party("Clearhouse Ltd", "DE89370400440532013000"),
        payments=[
            CreditTransferLine(
                payout_id,
                amount,
                currency,
                creditor_name="Anna Schmidt",
                creditor_iban="DE75512108001245126199",
                creditor_bic="" if currency == "EUR" else "DEUTDEFF",
            )
            for payout_id, amount in payouts.items()
        ],
        requested_execution_date=dt.date(2026, 3, 2),
    )
    opening = 10**12
    statement_xml = book_as_bank(
        pain001,
        account_iban="DE89370400440532013000",
        opening_minor_text=render_amount(opening, currency),
    )
    closing = render_amount(opening - sum(amounts), currency)

    statement = parse_statement(statement_xml.replace(b"{closing}", closing.encode()))

    assert {entry.end_to_end_id: entry.amount_minor for entry in statement.entries} == payouts
    assert {entry.currency for entry in statement.entries} == {currency}
    assert statement.closing_balance.amount_minor == opening - sum(amounts)


# --- files that are wrong ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "old", "new", "code", "field"),
    [
        # More decimals than the currency has: an error, never rounded.
        (
            "camt053_001_08_jpy.xml",
            '"JPY">150000</Amt>',
            '"JPY">150000.0</Amt>',
            "invalid_amount",
            "Stmt[1]/Ntry[1]",
        ),
        (
            "camt053_001_02_kwd.xml",
            '"KWD">1250.500</Amt>',
            '"KWD">1250.5000</Amt>',
            "invalid_amount",
            "Stmt[1]/Ntry[1]",
        ),
        (
            "camt053_001_02_eur.xml",
            '"EUR">1234.56</Amt>',
            '"EUR">1234.561</Amt>',
            "invalid_amount",
            "Stmt[1]/Ntry[1]",
        ),
        (
            "camt053_001_02_eur.xml",
            '"EUR">1234.56</Amt>',
            '"EUR">-1234.56</Amt>',
            "invalid_amount",
            "Stmt[1]/Ntry[1]",
        ),
        (
            "camt053_001_02_eur.xml",
            '"EUR">1234.56</Amt>',
            '"EUR">1.23456e3</Amt>',
            "invalid_amount",
            "Stmt[1]/Ntry[1]",
        ),
        (
            "camt053_001_02_eur.xml",
            '<Amt Ccy="EUR">1234.56</Amt>',
            '<Amt Ccy="eur">1234.56</Amt>',
            "invalid_amount",
            "Stmt[1]/Ntry[1]",
        ),
        (
            "camt053_001_02_eur.xml",
            '<Amt Ccy="EUR">1234.56</Amt>',
            "<Amt>1234.56</Amt>",
            "invalid_amount",
            "Stmt[1]/Ntry[1]",
        ),
        (
            "camt053_001_02_eur.xml",
            '<Amt Ccy="EUR">1234.56</Amt>',
            '<Amt Ccy="XAU">1234.56</Amt>',
            "invalid_amount",
            "Stmt[1]/Ntry[1]",
        ),
        # A statement that does not add up is truncated or wrong.
        (
            "camt053_001_02_eur.xml",
            '"EUR">8605.34</Amt>',
            '"EUR">8605.33</Amt>',
            "unbalanced_statement",
            "Stmt[1]",
        ),
        (
            "camt053_001_08_jpy.xml",
            '"JPY">735000</Amt>',
            '"JPY">735001</Amt>',
            "unbalanced_statement",
            "Stmt[1]",
        ),
        # A batch whose parts do not make the booking, or have no amounts.
        (
            "camt053_001_08_eur.xml",
            '<Amt Ccy="EUR">150.00</Amt>',
            '<Amt Ccy="EUR">150.01</Amt>',
            "batch_mismatch",
            "Stmt[1]/Ntry[2]",
        ),
        (
            "camt053_001_08_jpy.xml",
            '<Amt Ccy="JPY">120000</Amt>',
            "",
            "batch_without_amounts",
            "Stmt[1]/Ntry[2]/TxDtls[1]",
        ),
        (
            "camt053_001_08_jpy.xml",
            '<Amt Ccy="JPY">120000</Amt>',
            '<Amt Ccy="USD">1200.00</Amt>',
            "currency_mismatch",
            "Stmt[1]/Ntry[2]/TxDtls[1]",
        ),
        # An entry or a balance in another currency than the account's.
        (
            "camt053_001_02_eur.xml",
            '<Amt Ccy="EUR">10.00</Amt>',
            '<Amt Ccy="USD">10.00</Amt>',
            "currency_mismatch",
            "Stmt[1]",
        ),
        (
            "camt053_001_02_eur.xml",
            '"EUR">10000.00</Amt>',
            '"USD">10000.00</Amt>',
            "currency_mismatch",
            "Stmt[1]",
        ),
        # Missing or malformed parts.
        ("camt053_001_02_eur.xml", "<Cd>CLBD</Cd>", "<Cd>CLAV</Cd>", "missing_balance", "Stmt[1]"),
        ("camt053_001_02_eur.xml", "<Cd>PRCD</Cd>", "<Cd>ITBD</Cd>", "missing_balance", "Stmt[1]"),
        (
            "camt053_001_02_eur.xml",
            "<IBAN>DE89370400440532013000</IBAN>\n        </Id>\n        <Ccy>",
            "<IBAN>DE89370400440532013001</IBAN>\n        </Id>\n        <Ccy>",
            "invalid_iban",
            "Stmt[1]",
        ),
        ("camt053_001_02_eur.xml", "<Id>0061-2026-03-02</Id>", "", "missing_element", "Stmt[1]"),
        (
            "camt053_001_02_eur.xml",
            "<CdtDbtInd>DBIT</CdtDbtInd>",
            "<CdtDbtInd>DEBIT</CdtDbtInd>",
            "invalid_indicator",
            "Stmt[1]/Ntry[1]",
        ),
        (
            "camt053_001_02_eur.xml",
            "<RvslInd>true</RvslInd>",
            "<RvslInd>yes</RvslInd>",
            "invalid_indicator",
            "Stmt[1]/Ntry[3]",
        ),
        ("camt053_001_02_eur.xml", "<Sts>BOOK</Sts>", "", "missing_element", "Stmt[1]/Ntry[1]"),
        (
            "camt053_001_02_eur.xml",
            "<Dt>2026-03-02</Dt>\n        </BookgDt>",
            "<Dt>2026-02-30</Dt>\n        </BookgDt>",
            "invalid_date",
            "Stmt[1]/Ntry[1]",
        ),
        (
            "camt053_001_02_eur.xml",
            "<CreDtTm>2026-03-02T22:15:03+01:00</CreDtTm>",
            "<CreDtTm>yesterday</CreDtTm>",
            "invalid_date",
            "Stmt[1]",
        ),
    ],
)
def test_a_wrong_statement_is_refused_saying_where(name, old, new, code, field):
    with pytest.raises(InvalidStatement) as refused:
        parse_statement(edited(name, old, new))

    assert (refused.value.code, refused.value.field) == (code, field)
    assert refused.value.http_status == 400


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        (b"", "malformed_xml"),
        (b"not xml at all", "malformed_xml"),
        (sample("camt053_001_02_eur.xml")[:5000], "malformed_xml"),  # truncated
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.09"/>',
            "unsupported_message",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.01"/>',
            "unsupported_message",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"/>',
            "unsupported_message",
        ),
        (b"<Document><BkToCstmrStmt/></Document>", "unsupported_message"),
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>', "missing_element"),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
            b"<GrpHdr><MsgId>M</MsgId><CreDtTm>2026-03-02T22:00:00Z</CreDtTm></GrpHdr>"
            b"</BkToCstmrStmt></Document>",
            "missing_element",
        ),
    ],
)
def test_what_is_not_a_camt_053_statement_is_refused(xml, code):
    with pytest.raises(InvalidStatement) as refused:
        parse_statements(xml)

    assert refused.value.code == code


def test_a_pain_001_file_is_not_a_statement():
    pain001 = credit_transfer_file(
        message_id="m1",
        created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        debtor=Party("Clearhouse", "DE89370400440532013000"),
        payments=[CreditTransferLine("po1", 100, "EUR", "Anna", "DE75512108001245126199")],
        requested_execution_date=dt.date(2026, 3, 2),
    )

    with pytest.raises(InvalidStatement) as refused:
        parse_statement(pain001)

    assert refused.value.code == "unsupported_message"


def test_text_is_not_accepted_for_bytes():
    with pytest.raises(TypeError):
        parse_statement(sample("camt053_001_02_eur.xml").decode())


# --- hostile files --------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Document [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>&lol9;</MsgId><CreDtTm>2026-03-02T22:00:00Z</CreDtTm></GrpHdr>
</BkToCstmrStmt></Document>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>&secret;</MsgId><CreDtTm>2026-03-02T22:00:00Z</CreDtTm></GrpHdr>
</BkToCstmrStmt></Document>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/statement.dtd">
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>"""

BARE_DOCTYPE = b"""<?xml version="1.0"?><!DOCTYPE Document>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>"""


@pytest.mark.parametrize(
    "xml",
    [
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(EXTERNAL_ENTITY, id="external-entity"),
        pytest.param(EXTERNAL_DTD, id="external-dtd"),
        pytest.param(PARAMETER_ENTITY, id="parameter-entity"),
        pytest.param(BARE_DOCTYPE, id="bare-doctype"),
        pytest.param(
            EXTERNAL_ENTITY.decode()
            .replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
            .encode("utf-16"),
            id="external-entity-in-utf16",
        ),
    ],
)
def test_a_document_declaring_a_dtd_is_refused_unread(xml):
    started = time.monotonic()

    with pytest.raises(UnsafeXml) as refused:
        parse_statement(xml)

    assert refused.value.code == "unsafe_xml"
    assert "root:" not in str(refused.value)  # nothing of /etc/passwd came back
    assert time.monotonic() - started < 1  # refused, not expanded


def test_an_entity_reference_without_declaration_is_malformed():
    xml = edited(
        "camt053_001_02_eur.xml",
        "<MsgId>COBA20260302221503-0061</MsgId>",
        "<MsgId>&secret;</MsgId>",
    )

    with pytest.raises(InvalidStatement) as refused:
        parse_statement(xml)

    assert refused.value.code == "malformed_xml"


def test_a_file_over_the_size_cap_is_refused_before_parsing():
    xml = sample("camt053_001_02_eur.xml")

    parse_statement(xml, max_bytes=len(xml))
    with pytest.raises(InvalidStatement) as refused:
        parse_statement(xml + b" ", max_bytes=len(xml))

    assert refused.value.code == "too_large"


def test_deep_nesting_is_refused_by_the_parsers_limits():
    depth = 100_000
    xml = (
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        + b"<Stmt>" * depth
        + b"</Stmt>" * depth
        + b"</BkToCstmrStmt></Document>"
    )

    with pytest.raises(InvalidStatement) as refused:
        parse_statement(xml)

    assert refused.value.code == "malformed_xml"
