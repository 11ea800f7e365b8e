"""pain.001.001.09: a batch's payouts as one customer credit transfer initiation file.

    credit_transfer_file(message_id=..., created_at=..., debtor=Party(...),
                         payments=[CreditTransferLine(...), ...], requested_execution_date=...)

- One PmtInf per (execution date, currency), in that order; NbOfTxs and CtrlSum on each and on
  the group header (whose CtrlSum is the plain sum of every amount, as ISO defines it).
- Amounts come from integer minor units with the currency's exponent (core.money): JPY 1000 ->
  "1000", EUR 1000 -> "10.00", KWD 1000 -> "1.000". No float anywhere.
- EUR goes as SEPA (service level SEPA, charges SLEV, both IBANs in the SEPA zone, names at most
  70 characters in SEPA's Latin set: see text.py); other currencies go with charges SHAR, need
  the creditor's BIC, and take names up to ISO's 140 characters in any script.
- The end-to-end id is the payout id (the bank echoes it on its statement: reconciliation keys on
  it); each line asks to be booked on its own (BtchBookg false) so the statement shows each
  payout, not one sum per file.
- Bad input raises InvalidCreditTransfer (code says which rule, field says where); nothing is
  truncated or rounded silently. The file is checked against the official XSD before it is
  returned, so a writer bug cannot reach a bank.
- Same input, same bytes: ids and the creation time come from the caller, nothing is random.

Why not sepaxml's writer: 2.7.0 renders every amount with two decimals (1000 JPY minor becomes
"10.00" JPY, 5 KWD fils "0.05"), puts all currencies in one SEPA PmtInf, draws random MsgId and
PmtInfId, stamps a naive local CreDtTm, and transliterates and truncates names silently; and its
own XSD check passes all of that. Its XSD file is what we use.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from itertools import groupby

from lxml import etree
from lxml.builder import ElementMaker
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from accounts.banking import aba_routing_number_is_valid
from core.money import NoMinorUnit, currency_exponent

from .amounts import MAX_TOTAL_DIGITS, AmountError, count_digits, render_amount
from .errors import InvalidCreditTransfer
from .schemas import PAIN_001_001_09, xml_schema
from .text import identifier, latin_text, unicode_text

NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{PAIN_001_001_09}"
MAX_TRANSACTIONS = 100_000  # per file; a batch larger than this is split by the caller
SEPA_CURRENCY = "EUR"
SEPA_NAME_LENGTH = 70  # EPC rulebook: names at most 70 characters
ISO_NAME_LENGTH = 140  # Max140Text
REMITTANCE_LENGTH = 140  # Max140Text; one unstructured line, as SEPA allows
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
NOT_PROVIDED = "NOTPROVIDED"  # the EPC's placeholder for an agent without BIC


@dataclass(frozen=True)
class Party:
    """The account that pays: the platform's own (name, IBAN, optional BIC)."""

    name: str
    iban: str
    bic: str = ""


@dataclass(frozen=True)
class CreditTransferLine:
    """One payout. `requested_execution_date`, when set, overrides the file's for this line."""

    end_to_end_id: str  # the payout id
    amount_minor: int
    currency: str
    creditor_name: str
    creditor_iban: str  # "" for a US account, named by the two fields below instead
    creditor_bic: str = ""
    remittance: str = ""
    requested_execution_date: dt.date | None = None
    creditor_routing_number: str = ""  # a US account: ABA routing number (ClrSysMmbId, USABA)
    creditor_account_number: str = ""  # and its account number (CdtrAcct/Id/Othr)


@dataclass(frozen=True)
class _Line:
    """A line after validation, in the form the file carries it."""

    end_to_end_id: str
    amount: str
    amount_decimal: Decimal
    currency: str
    execution_date: dt.date
    creditor_name: str
    creditor_iban: str
    creditor_bic: str
    remittance: str
    creditor_routing_number: str = ""
    creditor_account_number: str = ""


def credit_transfer_file(
    *,
    message_id: str,
    created_at: dt.datetime,
    debtor: Party,
    payments: Sequence[CreditTransferLine],
    requested_execution_date: dt.date,
) -> bytes:
    """The pain.001.001.09 XML (UTF-8 bytes) paying every line of `payments` from `debtor`."""
    message_id = identifier(message_id, field="message_id")
    if not isinstance(created_at, dt.datetime) or created_at.utcoffset() is None:
        raise InvalidCreditTransfer(
            "created_at must be a timezone-aware datetime",
            code="invalid_datetime",
            field="created_at",
        )
    file_date = _execution_date(requested_execution_date, "requested_execution_date")
    debtor_name, debtor_iban, debtor_bic = _debtor(debtor)
    lines = _lines(payments, file_date)

    # sorted() is stable: lines keep the caller's order inside their group.
    groups = [
        (key, list(members)) for key, members in groupby(sorted(lines, key=_group_key), _group_key)
    ]
    paying_euro = any(currency == SEPA_CURRENCY for (_, currency), _ in groups)
    if paying_euro and not IBAN(debtor_iban).in_sepa_zone:
        raise InvalidCreditTransfer(
            f"EUR goes by SEPA; the debtor IBAN's country {debtor_iban[:2]} is outside the SEPA zone",
            code="iban_outside_sepa",
            field="debtor.iban",
        )

    E = ElementMaker(namespace=NAMESPACE, nsmap={None: NAMESPACE})
    payment_informations = [
        _payment_information(
            E,
            pmt_inf_id=_pmt_inf_id(message_id, index),
            execution_date=execution_date,
            currency=currency,
            members=members,
            debtor_name=debtor_name,
            debtor_iban=debtor_iban,
            debtor_bic=debtor_bic,
        )
        for index, ((execution_date, currency), members) in enumerate(groups, start=1)
    ]
    document = E.Document(
        E.CstmrCdtTrfInitn(
            E.GrpHdr(
                E.MsgId(message_id),
                E.CreDtTm(created_at.isoformat(timespec="seconds")),
                E.NbOfTxs(str(len(lines))),
                E.CtrlSum(_control_sum(lines)),
                E.InitgPty(E.Nm(debtor_name)),
            ),
            *payment_informations,
        )
    )
    schema = xml_schema(PAIN_001_001_09)
    if not schema.validate(document):  # postcondition: a bug here must not reach a bank
        raise InvalidCreditTransfer(
            f"the file does not match the pain.001.001.09 schema: {schema.error_log.last_error}",
            code="schema_violation",
        )
    # The declaration written by hand: double quotes, as every bank's sample shows it.
    return XML_DECLARATION + etree.tostring(document, encoding="UTF-8", pretty_print=True)


def _group_key(line: _Line) -> tuple[dt.date, str]:
    return (line.execution_date, line.currency)


def _pmt_inf_id(message_id: str, index: int) -> str:
    # Unique inside the file; the message id's prefix makes it recognisable across files.
    suffix = f"-{index}"
    return message_id[: 35 - len(suffix)].rstrip("/") + suffix


def _currency(value: object, field: str) -> str:
    try:
        currency_exponent(value)  # refuses a non-str too (TypeError)
    except NoMinorUnit as error:
        raise InvalidCreditTransfer(
            f"{field}: {error}", code="currency_without_minor_unit", field=field
        ) from None
    except (TypeError, ValueError) as error:
        raise InvalidCreditTransfer(
            f"{field}: {error}", code="invalid_currency", field=field
        ) from None
    assert isinstance(value, str)
    return value.upper()


def _execution_date(value: object, field: str) -> dt.date:
    # A datetime is a date too, but ISODate has no time: refuse rather than drop it.
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise InvalidCreditTransfer(f"{field} must be a date", code="invalid_date", field=field)
    return value


def _iban(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidCreditTransfer(f"{field} must be text", code="invalid_iban", field=field)
    try:
        return IBAN(value).compact
    except SchwiftyException as error:
        raise InvalidCreditTransfer(
            f"{field} {value!r} is not a valid IBAN: {error}", code="invalid_iban", field=field
        ) from None


def _bic(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidCreditTransfer(f"{field} must be text", code="invalid_bic", field=field)
    if not value.strip():
        return ""
    try:
        return str(BIC(value.strip()))
    except SchwiftyException as error:
        raise InvalidCreditTransfer(
            f"{field} {value!r} is not a valid BIC: {error}", code="invalid_bic", field=field
        ) from None


def _debtor(debtor: object) -> tuple[str, str, str]:
    if not isinstance(debtor, Party):
        raise InvalidCreditTransfer("debtor must be a Party", code="invalid_party", field="debtor")
    # The platform's own name: kept to SEPA's rules for every currency, so one name serves all.
    name = latin_text(debtor.name, field="debtor.name", max_length=SEPA_NAME_LENGTH)
    return name, _iban(debtor.iban, "debtor.iban"), _bic(debtor.bic, "debtor.bic")


def _lines(payments: object, file_date: dt.date) -> list[_Line]:
    if isinstance(payments, str | bytes) or not isinstance(payments, Sequence):
        raise InvalidCreditTransfer(
            "payments must be a sequence of CreditTransferLine",
            code="invalid_batch",
            field="payments",
        )
    if not payments:
        raise InvalidCreditTransfer(
            "a credit transfer file needs at least one payment",
            code="empty_batch",
            field="payments",
        )
    if len(payments) > MAX_TRANSACTIONS:
        raise InvalidCreditTransfer(
            f"{len(payments)} payments; a file holds at most {MAX_TRANSACTIONS}",
            code="too_many_transactions",
            field="payments",
        )
    lines: list[_Line] = []
    seen: set[str] = set()
    for index, payment in enumerate(payments):
        line = _line(payment, f"payments[{index}]", file_date)
        if line.end_to_end_id in seen:
            # Two lines with one payout id would pay that payout twice.
            raise InvalidCreditTransfer(
                f"end-to-end id {line.end_to_end_id!r} appears twice",
                code="duplicate_end_to_end_id",
                field=f"payments[{index}].end_to_end_id",
            )
        seen.add(line.end_to_end_id)
        lines.append(line)
    return lines


def _line(payment: object, field: str, file_date: dt.date) -> _Line:
    if not isinstance(payment, CreditTransferLine):
        raise InvalidCreditTransfer(
            f"{field} must be a CreditTransferLine", code="invalid_batch", field=field
        )
    end_to_end_id = identifier(payment.end_to_end_id, field=f"{field}.end_to_end_id")
    amount_minor = payment.amount_minor
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise InvalidCreditTransfer(
            f"{field}.amount_minor must be an int of minor units, not {type(amount_minor).__name__}",
            code="invalid_amount",
            field=f"{field}.amount_minor",
        )
    if amount_minor <= 0:
        raise InvalidCreditTransfer(
            f"{field}.amount_minor is {amount_minor}; a payout is positive",
            code="invalid_amount",
            field=f"{field}.amount_minor",
        )
    currency = _currency(payment.currency, f"{field}.currency")
    try:
        amount = render_amount(amount_minor, currency)
    except AmountError as error:
        raise InvalidCreditTransfer(
            f"{field}: {error}", code="invalid_amount", field=f"{field}.amount_minor"
        ) from None
    execution_date = (
        file_date
        if payment.requested_execution_date is None
        else _execution_date(payment.requested_execution_date, f"{field}.requested_execution_date")
    )
    creditor_bic = _bic(payment.creditor_bic, f"{field}.creditor_bic")
    routing, number = _us_account(payment, field, currency)
    creditor_iban = "" if routing else _iban(payment.creditor_iban, f"{field}.creditor_iban")
    if routing:  # routed by the US clearing system's member id: no BIC needed
        text, name_length = unicode_text, ISO_NAME_LENGTH
    elif currency == SEPA_CURRENCY:
        if not IBAN(creditor_iban).in_sepa_zone:
            raise InvalidCreditTransfer(
                f"EUR goes by SEPA; the IBAN's country {creditor_iban[:2]} is outside the SEPA zone",
                code="iban_outside_sepa",
                field=f"{field}.creditor_iban",
            )
        text, name_length = latin_text, SEPA_NAME_LENGTH
    else:
        if not creditor_bic:
            # Outside SEPA an IBAN alone does not route a payment: the bank needs the BIC.
            raise InvalidCreditTransfer(
                f"a {currency} transfer needs the creditor's BIC",
                code="bic_required",
                field=f"{field}.creditor_bic",
            )
        text, name_length = unicode_text, ISO_NAME_LENGTH
    creditor_name = text(
        payment.creditor_name, field=f"{field}.creditor_name", max_length=name_length
    )
    blank = isinstance(payment.remittance, str) and not payment.remittance.strip()
    remittance = (
        ""
        if blank
        else text(payment.remittance, field=f"{field}.remittance", max_length=REMITTANCE_LENGTH)
    )
    return _Line(
        end_to_end_id=end_to_end_id,
        amount=amount,
        amount_decimal=Decimal(amount),
        currency=currency,
        execution_date=execution_date,
        creditor_name=creditor_name,
        creditor_iban=creditor_iban,
        creditor_bic=creditor_bic,
        remittance=remittance,
        creditor_routing_number=routing,
        creditor_account_number=number,
    )


def _us_account(payment: CreditTransferLine, field: str, currency: str) -> tuple[str, str]:
    """(routing, account number) of a line to a US account, or ("", "") for one by IBAN."""
    routing = payment.creditor_routing_number
    number = payment.creditor_account_number
    if not routing and not number:
        return "", ""
    if payment.creditor_iban:
        raise InvalidCreditTransfer(
            f"{field} names an IBAN and a US account: one or the other",
            code="invalid_account",
            field=f"{field}.creditor_iban",
        )
    if not isinstance(routing, str) or not aba_routing_number_is_valid(routing):
        raise InvalidCreditTransfer(
            f"{field}.creditor_routing_number is not a valid ABA routing number",
            code="invalid_routing_number",
            field=f"{field}.creditor_routing_number",
        )
    if not isinstance(number, str) or not re.fullmatch(r"[0-9]{4,17}", number):
        raise InvalidCreditTransfer(
            f"{field}.creditor_account_number is not a US account number (4 to 17 digits)",
            code="invalid_account_number",
            field=f"{field}.creditor_account_number",
        )
    if currency == SEPA_CURRENCY:
        raise InvalidCreditTransfer(
            "EUR goes by SEPA, to an IBAN; a US account is paid in USD",
            code="iban_required",
            field=f"{field}.creditor_iban",
        )
    return routing, number


def _control_sum(lines: Sequence[_Line]) -> str:
    # Decimal addition is exact at this precision: 18-digit amounts, at most 100,000 of them.
    with localcontext() as context:
        context.prec = 60
        total = sum((line.amount_decimal for line in lines), Decimal(0))
    text = format(total, "f")
    if count_digits(text) > MAX_TOTAL_DIGITS:
        raise InvalidCreditTransfer(
            f"the control sum {text} has more than {MAX_TOTAL_DIGITS} digits: split the file",
            code="control_sum_too_large",
            field="payments",
        )
    return text


def _agent(E: ElementMaker, bic: str) -> etree._Element:
    if bic:
        return E.FinInstnId(E.BICFI(bic))
    return E.FinInstnId(E.Othr(E.Id(NOT_PROVIDED)))


def _payment_information(
    E: ElementMaker,
    *,
    pmt_inf_id: str,
    execution_date: dt.date,
    currency: str,
    members: list[_Line],
    debtor_name: str,
    debtor_iban: str,
    debtor_bic: str,
) -> etree._Element:
    sepa = currency == SEPA_CURRENCY
    header = [
        E.PmtInfId(pmt_inf_id),
        E.PmtMtd("TRF"),
        E.BtchBookg("false"),
        E.NbOfTxs(str(len(members))),
        E.CtrlSum(_control_sum(members)),
    ]
    if sepa:
        header.append(E.PmtTpInf(E.SvcLvl(E.Cd("SEPA"))))
    header += [
        E.ReqdExctnDt(E.Dt(execution_date.isoformat())),
        E.Dbtr(E.Nm(debtor_name)),
        E.DbtrAcct(E.Id(E.IBAN(debtor_iban))),
        E.DbtrAgt(_agent(E, debtor_bic)),
        E.ChrgBr("SLEV" if sepa else "SHAR"),
    ]
    return E.PmtInf(*header, *(_transaction(E, line) for line in members))


def _transaction(E: ElementMaker, line: _Line) -> etree._Element:
    parts = [
        E.PmtId(E.EndToEndId(line.end_to_end_id)),
        E.Amt(E.InstdAmt(line.amount, Ccy=line.currency)),
    ]
    if line.creditor_routing_number:  # a US account: the ABA routing number names the bank
        member = E.ClrSysMmbId(E.ClrSysId(E.Cd("USABA")), E.MmbId(line.creditor_routing_number))
        bic = [E.BICFI(line.creditor_bic)] if line.creditor_bic else []
        parts.append(E.CdtrAgt(E.FinInstnId(*bic, member)))
        account = E.Othr(E.Id(line.creditor_account_number))
    else:
        if line.creditor_bic:
            parts.append(E.CdtrAgt(E.FinInstnId(E.BICFI(line.creditor_bic))))
        account = E.IBAN(line.creditor_iban)
    parts += [E.Cdtr(E.Nm(line.creditor_name)), E.CdtrAcct(E.Id(account))]
    if line.remittance:
        parts.append(E.RmtInf(E.Ustrd(line.remittance)))
    return E.CdtTrfTxInf(*parts)
