"""camt.053 (bank-to-customer statement), versions .001.02 to .001.08: read, never trusted.

    parse_statement(xml_bytes) -> Statement      # exactly one account statement in the file
    parse_statements(xml_bytes) -> (Statement, ...)

Hardened: input over `max_bytes` is refused before parsing; the prolog is read first and a
document with a DTD (where entities and external references are declared) is refused before its
body is read; lxml parses with resolve_entities=False, load_dtd=False, no_network=True,
huge_tree=False, so nothing is expanded or fetched either way; the document is read as a stream
and each entry is dropped once read, so memory stays bounded by one entry, not the file.

Read exactly: amounts from their decimal text into minor units with the currency's exponent
(core.money); more decimals than the currency has is an error, never rounded. The statement must
add up: opening balance + booked entries = closing balance, else it is refused (truncated or
wrong). Pagination across several messages is not supported (each Stmt needs OPBD or PRCD, and
CLBD).

One Entry per transaction: a batch booking (one Ntry with several TxDtls) becomes one Entry per
TxDtls, each with its own amount, end-to-end id and counterparty, sharing the booking's dates,
status and `entry_reference`; their amounts must sum to the booking's. A reversal (RvslInd) keeps
the direction the bank booked it in (`credit_debit`) and says `reversal=True`.

The counterparty is the other side of the original payment: the creditor of a debit, the debtor
of a credit, swapped for a reversal; when the bank names only the other side, that one.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import NamedTuple

from lxml import etree
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from .amounts import AmountError, parse_amount
from .errors import InvalidStatement, UnsafeXml
from .statements import BOOKED, Balance, CreditDebit, Entry, Statement

SUPPORTED_VERSIONS = ("02", "03", "04", "05", "06", "07", "08")
NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.053.001."
MAX_STATEMENT_BYTES = 100 * 1024 * 1024
MAX_STATEMENTS = 1_000  # Stmt elements in one message
OPENING_CODES = ("OPBD", "PRCD")  # opening booked; or the previous statement's closing
CLOSING_CODE = "CLBD"
NOT_PROVIDED = "NOTPROVIDED"

_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_DATETIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})?"
)


def parse_statement(
    xml: bytes,
    *,
    max_bytes: int = MAX_STATEMENT_BYTES,
    assume_timezone: dt.tzinfo = dt.UTC,
) -> Statement:
    """The one account statement in a camt.053 message; InvalidStatement if there are several."""
    statements = parse_statements(xml, max_bytes=max_bytes, assume_timezone=assume_timezone)
    if len(statements) != 1:
        raise InvalidStatement(
            f"the message holds {len(statements)} statements; expected one (use parse_statements)",
            code="several_statements",
        )
    return statements[0]


def parse_statements(
    xml: bytes,
    *,
    max_bytes: int = MAX_STATEMENT_BYTES,
    assume_timezone: dt.tzinfo = dt.UTC,
) -> tuple[Statement, ...]:
    """Every account statement (Stmt) of a camt.053 message, in document order."""
    if not isinstance(xml, bytes):
        raise TypeError(f"a statement is bytes, not {type(xml).__name__}")
    if len(xml) > max_bytes:
        raise InvalidStatement(
            f"the statement is {len(xml)} bytes; at most {max_bytes} are read",
            code="too_large",
        )
    reader = _Reader(assume_timezone)
    try:
        reader.check_prolog(xml)
        events = etree.iterparse(
            io.BytesIO(xml),
            events=("start", "end"),
            tag=[reader.tag(name) for name in ("BkToCstmrStmt", "GrpHdr", "Stmt", "Ntry")],
            **_SAFE_PARSER,
        )
        return reader.read(events)
    except etree.XMLSyntaxError as error:
        raise InvalidStatement(f"not well-formed XML: {error}", code="malformed_xml") from None


# Nothing from outside the bytes: no entity substitution, no DTD loading, no network; libxml2's
# default limits on depth and text size stay on (huge_tree=False).
_SAFE_PARSER = {
    "resolve_entities": False,
    "load_dtd": False,
    "no_network": True,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
_PROLOG_CHUNK_BYTES = 64 * 1024


class _Booking(NamedTuple):
    """What an entry's transactions share: the booking's status, dates and references."""

    status: str
    booking_date: dt.date | None
    value_date: dt.date | None
    reversal: bool
    entry_reference: str
    entry_bank_reference: str
    entry_code: str


class _DoctypeFound(Exception):
    pass


class _RootFound(Exception):
    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


class _PrologProbe:
    """A parser target that stops at the first DOCTYPE or the root element, whichever is first."""

    def doctype(self, name: str, public_id: str | None, system_url: str | None) -> None:
        raise _DoctypeFound(name)

    def start(self, tag: str, attrib: dict, nsmap: dict | None = None) -> None:
        raise _RootFound(tag)

    def end(self, tag: str) -> None:
        pass

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        return None


def _error(message: str, code: str, where: str) -> InvalidStatement:
    return InvalidStatement(f"{where}: {message}", code=code, field=where)


class _Reader:
    """Walks the parse events; keeps one Stmt's header and the entries read so far."""

    def __init__(self, assume_timezone: dt.tzinfo) -> None:
        self.assume_timezone = assume_timezone
        self.namespace = ""
        self.version = ""
        self._paths: dict[str, str] = {}
        self._steps: dict[str, tuple[str, ...]] = {}
        # Each element's first child by tag, filled as find() walks through a statement's header
        # and balances; emptied after each statement. Entries are not read by find(): each is
        # flattened once (flatten(), with the steps made once the namespace is known), where
        # find() walked it some twenty times.
        self._children: dict[etree._Element, dict[str, etree._Element]] = {}
        self._entry_steps: dict = {}
        self._transaction_steps: dict = {}
        self._transaction_tag = self._remittance_line_tag = ""
        self._currencies: set[str] = set()  # Ccy codes already read (and so valid)
        self._days: dict[str, dt.date] = {}  # date text -> date: a statement's days repeat

    # --- the stream --------------------------------------------------------------------------

    def check_prolog(self, xml: bytes) -> None:
        """Read up to the root element: refuse any DTD there, and learn the message version.

        A DTD is where entities (billion laughs) and external references (XXE) are declared; a
        bank statement never needs one, so none is accepted, whatever it declares. The probe
        stops at the DOCTYPE declaration itself, before libxml2 reads what it declares.
        """
        probe = etree.XMLParser(target=_PrologProbe(), **_SAFE_PARSER)
        try:
            for offset in range(0, max(len(xml), 1), _PROLOG_CHUNK_BYTES):
                probe.feed(xml[offset : offset + _PROLOG_CHUNK_BYTES])
            probe.close()  # no root element: raises XMLSyntaxError
        except _DoctypeFound:
            raise UnsafeXml(
                "refused unread: the document declares a DTD (where entities and external "
                "references live); a bank statement has none"
            ) from None
        except _RootFound as root:
            self._root(root.tag)
            return
        raise InvalidStatement("no root element", code="malformed_xml")

    def read(self, events) -> tuple[Statement, ...]:
        message: etree._Element | None = None  # BkToCstmrStmt
        statement: etree._Element | None = None  # the Stmt being read
        message_id = ""
        message_created_at: dt.datetime | None = None
        entries: list[Entry] = []
        entry_count = 0  # Ntry elements read in the current Stmt
        statements: list[Statement] = []
        message_tag, header_tag = self.tag("BkToCstmrStmt"), self.tag("GrpHdr")
        statement_tag, entry_tag = self.tag("Stmt"), self.tag("Ntry")
        for event, element in events:
            parent = element.getparent()
            tag = element.tag
            if event == "start":
                if tag == message_tag and parent is not None:
                    if parent.getparent() is None:  # a child of the root Document
                        message = element
                elif tag == statement_tag and message is not None and parent is message:
                    if len(statements) >= MAX_STATEMENTS:
                        raise InvalidStatement(
                            f"more than {MAX_STATEMENTS} statements in one message",
                            code="too_many_statements",
                        )
                    statement, entries, entry_count = element, [], 0
                continue
            if tag == header_tag and message is not None and parent is message:
                message_id = self.text(element, "MsgId")
                message_created_at = self.datetime(element, "CreDtTm", "GrpHdr")
            elif statement is not None and parent is statement and tag == entry_tag:
                entry_count += 1
                where = f"Stmt[{len(statements) + 1}]/Ntry[{entry_count}]"
                entries.extend(self.entry(element, where))
                # Read: let it go, memory stays bounded. Emptied first: its children, no longer
                # referenced, are freed as they are unlinked, where removing the whole entry had
                # lxml walk it to move it to a document of its own.
                element.clear()
                statement.remove(element)
            elif statement is not None and element is statement:
                where = f"Stmt[{len(statements) + 1}]"
                statements.append(
                    self.statement(element, where, message_id, message_created_at, entries)
                )
                assert message is not None
                message.remove(element)
                self._children.clear()
                statement = None
        if message is None:
            raise InvalidStatement("no BkToCstmrStmt in the document", code="missing_element")
        if not statements:
            raise InvalidStatement("the message holds no statement (Stmt)", code="missing_element")
        return tuple(statements)

    def _root(self, tag: str) -> None:
        namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
        version = namespace.removeprefix(NAMESPACE_PREFIX)
        if local != "Document" or not namespace.startswith(NAMESPACE_PREFIX):
            raise InvalidStatement(
                f"not a camt.053 document (root {tag!r})", code="unsupported_message"
            )
        if version not in SUPPORTED_VERSIONS:
            raise InvalidStatement(
                f"camt.053.001.{version} is not supported; "
                f"supported: {', '.join('.' + v for v in SUPPORTED_VERSIONS)}",
                code="unsupported_message",
            )
        self.namespace, self.version = namespace, f"camt.053.001.{version}"
        self._entry_steps = self.steps(_ENTRY_PATHS, _ENTRY_EVERY)
        self._transaction_steps = self.steps(_TRANSACTION_PATHS, _TRANSACTION_EVERY)
        self._transaction_tag = self.tag("TxDtls")
        self._remittance_line_tag = self.tag("Ustrd")

    # --- element helpers ---------------------------------------------------------------------

    def tag(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}"

    def path(self, path: str) -> str:
        qualified = self._paths.get(path)
        if qualified is None:
            qualified = "/".join(self.tag(step) for step in path.split("/"))
            self._paths[path] = qualified
        return qualified

    def find(self, element: etree._Element, path: str) -> etree._Element | None:
        """The first element at `path` ("A/B/C"), or None.

        Each element on the way has its children read once into a tag -> first child map
        (self._children): a dictionary lookup per step after that, where iterchildren walked the
        children again at every one of an entry's twenty-odd lookups.
        """
        steps = self._steps.get(path)
        if steps is None:
            steps = self._steps[path] = tuple(self.tag(step) for step in path.split("/"))
        found: etree._Element | None = element
        children = self._children
        for step in steps:
            first = children.get(found)
            if first is None:
                first = {}
                for child in found:
                    first.setdefault(child.tag, child)
                children[found] = first
            found = first.get(step)
            if found is None:
                return None
        return found

    def text(self, element: etree._Element, path: str) -> str:
        found = self.find(element, path)
        return (found.text or "").strip() if found is not None else ""

    def required(self, element: etree._Element, path: str, where: str) -> str:
        text = self.text(element, path)
        if not text:
            raise _error(f"{path} is missing", "missing_element", where)
        return text

    def amount(self, element: etree._Element, path: str, where: str) -> tuple[int, str]:
        found = self.find(element, path)
        if found is None:
            raise _error(f"{path} is missing", "missing_element", where)
        currency = found.get("Ccy", "")
        if not _CURRENCY_CODE.fullmatch(currency):
            raise _error(
                f"{path} has currency {currency!r}, not an ISO 4217 code", "invalid_amount", where
            )
        try:
            return parse_amount(found.text or "", currency), currency
        except AmountError as error:
            raise _error(f"{path}: {error}", "invalid_amount", where) from None

    def credit_debit(self, element: etree._Element, path: str, where: str) -> CreditDebit:
        value = self.required(element, path, where)
        if value == "CRDT":
            return "CRDT"
        if value == "DBIT":
            return "DBIT"
        raise _error(f"{path} is {value!r}, not CRDT or DBIT", "invalid_indicator", where)

    def date(self, text: str, path: str, where: str) -> dt.date:
        match = _DATE.fullmatch(text)
        try:
            if match is None:
                raise ValueError(text)
            return dt.date.fromisoformat(match[1])
        except ValueError:
            raise _error(f"{path} {text!r} is not a date", "invalid_date", where) from None

    def datetime(self, element: etree._Element, path: str, where: str) -> dt.datetime | None:
        text = self.text(element, path)
        return self.datetime_text(text, path, where) if text else None

    def datetime_text(self, text: str, path: str, where: str) -> dt.datetime:
        match = _DATETIME.fullmatch(text)
        try:
            if match is None:
                raise ValueError(text)
            base, fraction, offset = match[1], (match[2] or "")[:6], match[3] or ""
            value = dt.datetime.fromisoformat(
                base + (f".{fraction.ljust(6, '0')}" if fraction else "") + offset
            )
        except ValueError:
            raise _error(f"{path} {text!r} is not a date and time", "invalid_date", where) from None
        return value if value.tzinfo else value.replace(tzinfo=self.assume_timezone)

    def date_choice(self, element: etree._Element, path: str, where: str) -> dt.date | None:
        """A DateAndDateTimeChoice: <Dt> or <DtTm> (the date of the time as written)."""
        day = self.text(element, f"{path}/Dt")
        if day:
            return self.date(day, f"{path}/Dt", where)
        moment = self.datetime(element, f"{path}/DtTm", where)
        return moment.date() if moment else None

    # --- the message's parts -----------------------------------------------------------------

    def statement(
        self,
        element: etree._Element,
        where: str,
        message_id: str,
        message_created_at: dt.datetime | None,
        entries: list[Entry],
    ) -> Statement:
        statement_id = self.required(element, "Id", where)
        iban_text = self.required(element, "Acct/Id/IBAN", where)
        try:
            account_iban = IBAN(iban_text).compact
        except SchwiftyException as error:
            raise _error(f"Acct/Id/IBAN {iban_text!r}: {error}", "invalid_iban", where) from None
        created_at = self.datetime(element, "CreDtTm", where) or message_created_at
        if created_at is None:
            raise _error("neither Stmt/CreDtTm nor GrpHdr/CreDtTm", "missing_element", where)
        opening = self.balance(element, OPENING_CODES, where)
        closing = self.balance(element, (CLOSING_CODE,), where)
        currency = self.text(element, "Acct/Ccy") or opening.currency
        for balance, name in ((opening, "opening"), (closing, "closing")):
            if balance.currency != currency:
                raise _error(
                    f"the {name} balance is in {balance.currency}, the account in {currency}",
                    "currency_mismatch",
                    where,
                )
        booked = 0
        for index, entry in enumerate(entries, start=1):
            if entry.currency != currency:
                raise _error(
                    f"entry {index} is in {entry.currency}, the account in {currency}",
                    "currency_mismatch",
                    where,
                )
            if entry.status == BOOKED:
                booked += entry.signed_amount_minor
        if opening.amount_minor + booked != closing.amount_minor:
            raise _error(
                f"opening {opening.amount_minor} + booked entries {booked} != closing "
                f"{closing.amount_minor} ({currency} minor units): truncated or inconsistent",
                "unbalanced_statement",
                where,
            )
        return Statement(
            message_id=message_id,
            statement_id=statement_id,
            version=self.version,
            account_iban=account_iban,
            currency=currency,
            created_at=created_at,
            opening_balance=opening,
            closing_balance=closing,
            entries=tuple(entries),
        )

    def balance(self, statement: etree._Element, codes: tuple[str, ...], where: str) -> Balance:
        found: dict[str, etree._Element] = {}
        for balance in statement.findall(self.path("Bal")):
            code = self.text(balance, "Tp/CdOrPrtry/Cd")
            if code in codes:
                found.setdefault(code, balance)
        for code in codes:
            if code in found:
                balance = found[code]
                place = f"{where}/Bal[{code}]"
                amount_minor, currency = self.amount(balance, "Amt", place)
                sign = 1 if self.credit_debit(balance, "CdtDbtInd", place) == "CRDT" else -1
                day = self.date_choice(balance, "Dt", place)
                if day is None:
                    raise _error("Dt is missing", "missing_element", place)
                return Balance(sign * amount_minor, currency, day)
        raise _error(f"no {' or '.join(codes)} balance", "missing_balance", where)

    def entry(self, element: etree._Element, where: str) -> list[Entry]:
        found = self.flatten(element, self._entry_steps)
        amount_minor, currency = self.amount_of(found.get("Amt"), "Amt", where)
        credit_debit = self.indicator_of(found, "CdtDbtInd", where)
        reversal = self.boolean_of(found, "RvslInd", where)
        status_element = found.get("Sts")
        if status_element is None:
            raise _error("Sts is missing", "missing_element", where)
        # Up to .06 the status is the element's text; from .07 a choice of Cd or Prtry.
        status = (
            _text_of(found, "Sts/Cd")
            or _text_of(found, "Sts/Prtry")
            or (status_element.text or "").strip()
        )
        if not status:
            raise _error("Sts is empty", "missing_element", where)
        booking_date = self.date_of(found, "BookgDt", where)
        value_date = self.date_of(found, "ValDt", where)
        entry_reference = _text_of(found, "NtryRef")
        entry_bank_reference = _text_of(found, "AcctSvcrRef")
        entry_code = _bank_transaction_code(found)
        shared = _Booking(
            status,
            booking_date,
            value_date,
            reversal,
            entry_reference,
            entry_bank_reference,
            entry_code,
        )
        transaction_tag = self._transaction_tag
        transactions = [
            transaction
            for details in found.get("NtryDtls*", ())
            for transaction in details
            if transaction.tag == transaction_tag
        ]
        if len(transactions) <= 1:
            if not transactions:
                return [
                    Entry(
                        amount_minor=amount_minor,
                        currency=currency,
                        credit_debit=credit_debit,
                        status=status,
                        booking_date=booking_date,
                        value_date=value_date,
                        end_to_end_id="",
                        bank_reference=entry_bank_reference,
                        remittance="",
                        counterparty_name="",
                        counterparty_iban="",
                        reversal=reversal,
                        bank_transaction_code=entry_code,
                        entry_reference=entry_reference,
                    )
                ]
            details = self.flatten(transactions[0], self._transaction_steps)
            return [self.transaction_entry(details, amount_minor, currency, credit_debit, shared)]
        # A batch booking: one Entry per transaction, which must add up to the booking.
        parts: list[Entry] = []
        for index, transaction in enumerate(transactions, start=1):
            place = f"{where}/TxDtls[{index}]"
            details = self.flatten(transaction, self._transaction_steps)
            part_amount, part_currency = self.transaction_amount(details, place)
            if part_currency != currency:
                raise _error(
                    f"a transaction in {part_currency} inside a {currency} booking",
                    "currency_mismatch",
                    place,
                )
            part_direction = (
                self.indicator_of(details, "CdtDbtInd", place)
                if details.get("CdtDbtInd") is not None
                else credit_debit
            )
            parts.append(
                self.transaction_entry(details, part_amount, currency, part_direction, shared)
            )
        booking = amount_minor if credit_debit == "CRDT" else -amount_minor
        if sum(part.signed_amount_minor for part in parts) != booking:
            raise _error(
                f"the {len(parts)} transactions sum to "
                f"{sum(part.signed_amount_minor for part in parts)}, the booking is {booking} "
                f"({currency} minor units)",
                "batch_mismatch",
                where,
            )
        return parts

    def transaction_amount(self, details: dict, where: str) -> tuple[int, str]:
        # .03 and later carry TxDtls/Amt; .02 only AmtDtls/TxAmt/Amt (the account's currency).
        for path in ("Amt", "AmtDtls/TxAmt/Amt"):
            if details.get(path) is not None:
                return self.amount_of(details[path], path, where)
        raise _error(
            "a transaction of a batch booking has no amount (Amt or AmtDtls/TxAmt/Amt)",
            "batch_without_amounts",
            where,
        )

    def transaction_entry(
        self,
        details: dict,
        amount_minor: int,
        currency: str,
        credit_debit: CreditDebit,
        booking: _Booking,
    ) -> Entry:
        """One transaction (TxDtls) of an entry, falling back to the entry's bank reference and
        bank transaction code."""
        reversal = booking.reversal
        end_to_end_id = _text_of(details, "Refs/EndToEndId")
        # The side that is not this account in the original payment; swapped for a reversal.
        paid_out = (credit_debit == "DBIT") != reversal
        name = iban = ""
        for side in _SIDES[paid_out]:
            # .08 wraps the party (Party40Choice: <Cdtr><Pty><Nm>); earlier versions do not.
            name = _text_of(details, f"RltdPties/{side}/Pty/Nm") or _text_of(
                details, f"RltdPties/{side}/Nm"
            )
            iban = _text_of(details, f"RltdPties/{side}Acct/Id/IBAN")
            if name or iban:
                break
        remittance_tag = self._remittance_line_tag
        remittance = " ".join(
            text
            for information in details.get("RmtInf*", ())
            for line in information
            if line.tag == remittance_tag and (text := (line.text or "").strip())
        )
        return Entry(
            amount_minor=amount_minor,
            currency=currency,
            credit_debit=credit_debit,
            status=booking.status,
            booking_date=booking.booking_date,
            value_date=booking.value_date,
            end_to_end_id="" if end_to_end_id == NOT_PROVIDED else end_to_end_id,
            bank_reference=_text_of(details, "Refs/AcctSvcrRef") or booking.entry_bank_reference,
            remittance=remittance,
            counterparty_name=name,
            counterparty_iban=iban,
            reversal=reversal,
            creditor_reference=_text_of(details, "RmtInf/Strd/CdtrRefInf/Ref"),
            return_reason=_text_of(details, "RtrInf/Rsn/Cd")
            or _text_of(details, "RtrInf/Rsn/Prtry"),
            bank_transaction_code=_bank_transaction_code(details) or booking.entry_code,
            entry_reference=booking.entry_reference,
        )

    # --- an entry, flattened -----------------------------------------------------------------

    def steps(self, paths: tuple[str, ...], every: tuple[str, ...]) -> dict:
        """The walk flatten() takes: qualified tag -> (path, the steps below, the list of every
        such element or None). `paths` are read as find() reads them (the first child of each
        name on the way); `every` lists each element of that name (findall), not looked into."""
        table: dict = {}
        for path in paths + every:
            level, walked = table, []
            for name in path.split("/"):
                walked.append(name)
                tag = self.tag(name)
                if tag not in level:
                    level[tag] = ("/".join(walked), {}, None)
                level = level[tag][1]
        for path in every:
            level = table
            *above, name = path.split("/")
            for step in above:
                level = level[self.tag(step)][1]
            tag = self.tag(name)
            level[tag] = (level[tag][0], level[tag][1], f"{path}*")
        return table

    @staticmethod
    def flatten(element: etree._Element, steps: dict) -> dict:
        """{path: element} of the elements `steps` names under `element`, in one walk over its
        children of interest: the first child of each name on the way, as find() walks, and
        "<path>*": [every such element] for the paths read in full."""
        found: dict = {}
        _walk(element, steps, found)
        return found

    def amount_of(self, found: etree._Element | None, path: str, where: str) -> tuple[int, str]:
        if found is None:
            raise _error(f"{path} is missing", "missing_element", where)
        currency = found.get("Ccy", "")
        if currency not in self._currencies and not _CURRENCY_CODE.fullmatch(currency):
            raise _error(
                f"{path} has currency {currency!r}, not an ISO 4217 code", "invalid_amount", where
            )
        try:
            minor = parse_amount(found.text or "", currency)
        except AmountError as error:
            raise _error(f"{path}: {error}", "invalid_amount", where) from None
        self._currencies.add(currency)  # a known currency: one of the few ISO 4217 codes
        return minor, currency

    def indicator_of(self, found: dict, path: str, where: str) -> CreditDebit:
        value = _text_of(found, path)
        if value == "DBIT":
            return "DBIT"
        if value == "CRDT":
            return "CRDT"
        if not value:
            raise _error(f"{path} is missing", "missing_element", where)
        raise _error(f"{path} is {value!r}, not CRDT or DBIT", "invalid_indicator", where)

    def boolean_of(self, found: dict, path: str, where: str) -> bool:
        value = _text_of(found, path)
        if value in ("", "false", "0"):
            return False
        if value in ("true", "1"):
            return True
        raise _error(f"{path} is {value!r}, not a boolean", "invalid_indicator", where)

    def date_of(self, found: dict, path: str, where: str) -> dt.date | None:
        """date_choice() on a flattened entry; a statement's days repeat, so each text is read
        once (the memo is bounded: a hostile file of distinct days only reads them all)."""
        text = _text_of(found, f"{path}/Dt")
        if text:
            day = self._days.get(text)
            if day is None:
                day = self.date(text, f"{path}/Dt", where)
                if len(self._days) < _MAX_MEMO:
                    self._days[text] = day
            return day
        text = _text_of(found, f"{path}/DtTm")
        if not text:
            return None
        return self.datetime_text(text, f"{path}/DtTm", where).date()


_MAX_MEMO = 4096
_SIDES = {True: ("Cdtr", "Dbtr"), False: ("Dbtr", "Cdtr")}
_CODE_PATHS = (
    "BkTxCd/Domn/Cd",
    "BkTxCd/Domn/Fmly/Cd",
    "BkTxCd/Domn/Fmly/SubFmlyCd",
    "BkTxCd/Prtry/Cd",
)
# What an entry (Ntry) and a transaction (TxDtls) are read for: see _Reader.steps().
_ENTRY_PATHS = (
    "Amt",
    "CdtDbtInd",
    "RvslInd",
    "Sts/Cd",
    "Sts/Prtry",
    "BookgDt/Dt",
    "BookgDt/DtTm",
    "ValDt/Dt",
    "ValDt/DtTm",
    "NtryRef",
    "AcctSvcrRef",
    *_CODE_PATHS,
)
_ENTRY_EVERY = ("NtryDtls",)
_TRANSACTION_PATHS = (
    "Amt",
    "AmtDtls/TxAmt/Amt",
    "CdtDbtInd",
    "Refs/EndToEndId",
    "Refs/AcctSvcrRef",
    *(
        f"RltdPties/{side}{path}"
        for side in ("Cdtr", "Dbtr")
        for path in ("/Pty/Nm", "/Nm", "Acct/Id/IBAN")
    ),
    "RmtInf/Strd/CdtrRefInf/Ref",
    "RtrInf/Rsn/Cd",
    "RtrInf/Rsn/Prtry",
    *_CODE_PATHS,
)
_TRANSACTION_EVERY = ("RmtInf",)


def _walk(element: etree._Element, steps: dict, found: dict) -> None:
    for child in element:
        step = steps.get(child.tag)
        if step is None:
            continue
        path, below, every = step
        if every is not None:
            found.setdefault(every, []).append(child)
        if path not in found:
            found[path] = child
            if below:
                _walk(child, below, found)


def _text_of(found: dict, path: str) -> str:
    element = found.get(path)
    return (element.text or "").strip() if element is not None else ""


def _bank_transaction_code(found: dict) -> str:
    domain = _text_of(found, "BkTxCd/Domn/Cd")
    if domain:
        family = _text_of(found, "BkTxCd/Domn/Fmly/Cd")
        sub_family = _text_of(found, "BkTxCd/Domn/Fmly/SubFmlyCd")
        return "/".join(part for part in (domain, family, sub_family) if part)
    return _text_of(found, "BkTxCd/Prtry/Cd")
