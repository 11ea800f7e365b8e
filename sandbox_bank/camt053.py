"""camt.053.001.08 (ISO 20022 BankToCustomerStatement): the platform's accounts for one day.

One document per request, one <Stmt> per platform account (one per currency), each with the
opening (OPBD) and closing (CLBD) booked balances, a transactions summary and one <Ntry> per
booking of that day (status BOOK). The end-to-end id of a payout's entry is the payout id; a
return is a credit entry with the same end-to-end id and a return reason; a buyer's incoming
transfer is a credit entry carrying the RF creditor reference.

Element order follows the camt.053.001.08 schema (no XSD ships offline; the tests check the
structure with XPath).
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from .banking import StatementAccount
from .config import BANK_BIC
from .money import decimal_text
from .store import utc_now

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
_NS = f"{{{NAMESPACE}}}"


def _el(parent: etree._Element, tag: str, text: str | None = None, **attributes: str):
    element = etree.SubElement(parent, _NS + tag, attributes)
    if text is not None:
        element.text = text
    return element


def _path(parent: etree._Element, tags: str, text: str | None = None) -> etree._Element:
    """_path(x, "Tp/CdOrPrtry/Cd", "OPBD") makes the chain and puts the text on the last one."""
    names = tags.split("/")
    for name in names[:-1]:
        parent = _el(parent, name)
    return _el(parent, names[-1], text)


def _datetime(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _side(amount_minor: int) -> str:
    return "CRDT" if amount_minor >= 0 else "DBIT"


def _balance(statement: etree._Element, code: str, amount_minor: int, currency: str, day: dt.date):
    balance = _el(statement, "Bal")
    _path(balance, "Tp/CdOrPrtry/Cd", code)
    _el(balance, "Amt", decimal_text(abs(amount_minor), currency), Ccy=currency)
    _el(balance, "CdtDbtInd", _side(amount_minor))
    _path(balance, "Dt/Dt", day.isoformat())


def _summary(statement: etree._Element, bookings, currency: str) -> None:
    credits = [row["amount_minor"] for row in bookings if row["amount_minor"] > 0]
    debits = [-row["amount_minor"] for row in bookings if row["amount_minor"] < 0]
    net = sum(credits) - sum(debits)
    summary = _el(statement, "TxsSummry")
    total = _el(summary, "TtlNtries")
    _el(total, "NbOfNtries", str(len(bookings)))
    _el(total, "Sum", decimal_text(sum(credits) + sum(debits), currency))
    net_entry = _el(total, "TtlNetNtry")
    _el(net_entry, "Amt", decimal_text(abs(net), currency))
    _el(net_entry, "CdtDbtInd", _side(net))
    for tag, amounts in (("TtlCdtNtries", credits), ("TtlDbtNtries", debits)):
        part = _el(summary, tag)
        _el(part, "NbOfNtries", str(len(amounts)))
        _el(part, "Sum", decimal_text(sum(amounts), currency))


def _bank_transaction_code(parent: etree._Element, family: str, sub_family: str) -> None:
    domain = _path(parent, "BkTxCd/Domn")
    _el(domain, "Cd", "PMNT")
    family_element = _el(domain, "Fmly")
    _el(family_element, "Cd", family)
    _el(family_element, "SubFmlyCd", sub_family)


def _party(parent: etree._Element, role: str, name: str, iban: str, number: str = "") -> None:
    _path(parent, f"{role}/Pty/Nm", name)
    if iban:
        _path(parent, f"{role}Acct/Id/IBAN", iban)
    elif number:  # a US account: its number (ISO 20022 generic account id)
        _path(parent, f"{role}Acct/Id/Othr/Id", number)


def _entry(statement: etree._Element, booking, account, day: dt.date) -> None:
    currency = account["currency"]
    amount = decimal_text(abs(booking["amount_minor"]), currency)
    side = _side(booking["amount_minor"])
    entry = _el(statement, "Ntry")
    _el(entry, "NtryRef", str(booking["id"]))
    _el(entry, "Amt", amount, Ccy=currency)
    _el(entry, "CdtDbtInd", side)
    _path(entry, "Sts/Cd", "BOOK")
    _path(entry, "BookgDt/Dt", day.isoformat())
    _path(entry, "ValDt/Dt", day.isoformat())
    _el(entry, "AcctSvcrRef", booking["bank_reference"])
    kind = booking["kind"]
    if kind == "transfer":
        codes = ("ICDT", "ESCT")  # issued credit transfer
    elif kind == "return":
        codes = ("ICDT", "RRTN")  # a credit transfer of ours, sent back
    else:
        codes = ("RCDT", "ESCT")  # received credit transfer
    _bank_transaction_code(entry, *codes)
    details = _path(entry, "NtryDtls/TxDtls")
    references = _el(details, "Refs")
    _el(references, "AcctSvcrRef", booking["bank_reference"])
    _el(references, "EndToEndId", booking["end_to_end_id"])
    _el(details, "Amt", amount, Ccy=currency)
    _el(details, "CdtDbtInd", side)
    parties = _el(details, "RltdPties")
    # Who paid whom: for our debit (a payout) we are the debtor; for a credit, the creditor.
    ours = (account["holder_name"], account["iban"])
    theirs = (
        booking["counterparty_name"],
        booking["counterparty_iban"],
        booking["counterparty_account"],
    )
    debtor, creditor = (ours, theirs) if kind == "transfer" else (theirs, ours)
    _party(parties, "Dbtr", *debtor)
    _party(parties, "Cdtr", *creditor)
    if booking["creditor_reference"]:
        reference = _path(details, "RmtInf/Strd/CdtrRefInf")
        kind_element = _el(reference, "Tp")
        _path(kind_element, "CdOrPrtry/Cd", "SCOR")
        _el(kind_element, "Issr", "ISO")
        _el(reference, "Ref", booking["creditor_reference"])
    elif booking["remittance"]:
        _path(details, "RmtInf/Ustrd", booking["remittance"])
    if booking["reason_code"]:
        _path(details, "RtrInf/Rsn/Cd", booking["reason_code"])


def statement_xml(accounts: list[StatementAccount], day: dt.date) -> bytes:
    """The camt.053.001.08 document for `day`, UTF-8 with an XML declaration."""
    created = utc_now()
    stamp = created.strftime("%Y%m%d%H%M%S")
    root = etree.Element(_NS + "Document", nsmap={None: NAMESPACE})
    message = _el(root, "BkToCstmrStmt")
    header = _el(message, "GrpHdr")
    _el(header, "MsgId", f"SBS{day:%Y%m%d}{stamp}"[:35])
    _el(header, "CreDtTm", _datetime(created))
    start = dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)
    for item in accounts:
        account = item.account
        statement = _el(message, "Stmt")
        _el(statement, "Id", f"{account['iban']}-{day:%Y%m%d}"[:35])
        _el(statement, "ElctrncSeqNb", day.strftime("%Y%m%d"))
        _el(statement, "CreDtTm", _datetime(created))
        period = _el(statement, "FrToDt")
        _el(period, "FrDtTm", _datetime(start))
        _el(period, "ToDtTm", _datetime(start + dt.timedelta(days=1, seconds=-1)))
        account_element = _el(statement, "Acct")
        _path(account_element, "Id/IBAN", account["iban"])
        _el(account_element, "Ccy", account["currency"])
        _path(account_element, "Ownr/Nm", account["holder_name"])
        _path(account_element, "Svcr/FinInstnId/BICFI", BANK_BIC)
        _balance(statement, "OPBD", item.opening_minor, account["currency"], day)
        _balance(statement, "CLBD", item.closing_minor, account["currency"], day)
        _summary(statement, item.bookings, account["currency"])
        for booking in item.bookings:
            _entry(statement, booking, account, day)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
