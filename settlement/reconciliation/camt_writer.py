"""A minimal camt.053.001.08 writer, for the benchmark, the tests and demos: one statement, one
entry per line, balances computed so the statement adds up. Not a production format writer (the
bank writes statements; the platform only reads them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from xml.sax.saxutils import escape

from settlement.iso20022.amounts import render_amount

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


@dataclass(frozen=True)
class Line:
    amount_minor: int  # signed: + credit, - debit
    end_to_end_id: str = ""
    creditor_reference: str = ""
    counterparty_iban: str = ""
    counterparty_name: str = ""
    reversal: bool = False
    return_reason: str = ""


def _party(role: str, name: str, iban: str) -> str:
    account = f"<{role}Acct><Id><IBAN>{iban}</IBAN></Id></{role}Acct>" if iban else ""
    return f"<{role}><Pty><Nm>{escape(name)}</Nm></Pty></{role}>{account}"


def _entry(line: Line, currency: str, day: str, number: int, ours: tuple[str, str]) -> str:
    """One Ntry as the sandbox bank writes it: bank transaction code, references, the amount
    again on the transaction, both parties, the remittance."""
    direction = "CRDT" if line.amount_minor > 0 else "DBIT"
    amount = render_amount(abs(line.amount_minor), currency)
    paid_out = (direction == "DBIT") != line.reversal
    family = (
        ("ICDT", "RRTN") if line.reversal else ("ICDT", "ESCT") if paid_out else ("RCDT", "ESCT")
    )
    theirs = (line.counterparty_name or "Unknown", line.counterparty_iban)
    debtor, creditor = (ours, theirs) if paid_out else (theirs, ours)
    reference = f"B{number:010d}"
    refs = f"<Refs><AcctSvcrRef>{reference}</AcctSvcrRef>" + (
        f"<EndToEndId>{escape(line.end_to_end_id)}</EndToEndId></Refs>"
        if line.end_to_end_id
        else "<EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
    )
    if line.creditor_reference:
        remittance = (
            "<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr>"
            f"</Tp><Ref>{escape(line.creditor_reference)}</Ref></CdtrRefInf></Strd></RmtInf>"
        )
    else:
        remittance = f"<RmtInf><Ustrd>Statement line {number}</Ustrd></RmtInf>"
    returned = (
        f"<RtrInf><Rsn><Cd>{line.return_reason}</Cd></Rsn></RtrInf>" if line.return_reason else ""
    )
    reversal = "<RvslInd>true</RvslInd>" if line.reversal else ""
    return (
        f'<Ntry><NtryRef>{number}</NtryRef><Amt Ccy="{currency}">{amount}</Amt>'
        f"<CdtDbtInd>{direction}</CdtDbtInd>{reversal}<Sts><Cd>BOOK</Cd></Sts>"
        f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
        f"<AcctSvcrRef>{reference}</AcctSvcrRef>"
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family[0]}</Cd>"
        f"<SubFmlyCd>{family[1]}</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"<NtryDtls><TxDtls>{refs}"
        f'<Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd>'
        f"<RltdPties>{_party('Dbtr', *debtor)}{_party('Cdtr', *creditor)}</RltdPties>"
        f"{remittance}{returned}</TxDtls></NtryDtls></Ntry>\n"
    )


def _balance(code: str, amount_minor: int, currency: str, day: str) -> str:
    direction = "CRDT" if amount_minor >= 0 else "DBIT"
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{currency}">{render_amount(abs(amount_minor), currency)}</Amt>'
        f"<CdtDbtInd>{direction}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>"
    )


def statement_xml(
    *,
    iban: str,
    currency: str,
    day: dt.date,
    lines: list[Line],
    opening_minor: int = 0,
    statement_id: str | None = None,
    message_id: str | None = None,
) -> bytes:
    """A camt.053.001.08 statement of `lines` for `day`, closing = opening + the lines, in a
    message `message_id` (default MSG-<day>)."""
    text_day = day.isoformat()
    closing = opening_minor + sum(line.amount_minor for line in lines)
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NAMESPACE}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>{escape(message_id or f'MSG-{text_day}')}</MsgId><CreDtTm>{text_day}T23:00:00Z</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{escape(statement_id or f'{iban}-{text_day}')}</Id>"
        f"<CreDtTm>{text_day}T23:00:00Z</CreDtTm>"
        f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>",
        _balance("OPBD", opening_minor, currency, text_day),
        _balance("CLBD", closing, currency, text_day),
    ]
    ours = ("Clearhouse Ltd", iban)
    parts.extend(
        _entry(line, currency, text_day, number, ours) for number, line in enumerate(lines, start=1)
    )
    parts.append("</Stmt></BkToCstmrStmt></Document>\n")
    return "".join(parts).encode()
