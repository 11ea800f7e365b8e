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


def _entry(line: Line, currency: str, day: str, number: int) -> str:
    direction = "CRDT" if line.amount_minor > 0 else "DBIT"
    amount = render_amount(abs(line.amount_minor), currency)
    refs = (
        f"<Refs><EndToEndId>{escape(line.end_to_end_id)}</EndToEndId></Refs>"
        if line.end_to_end_id
        else ""
    )
    side = "Cdtr" if (direction == "DBIT") != line.reversal else "Dbtr"
    parties = ""
    if line.counterparty_name or line.counterparty_iban:
        parties = (
            f"<RltdPties><{side}><Pty><Nm>{escape(line.counterparty_name)}</Nm></Pty></{side}>"
            + (
                f"<{side}Acct><Id><IBAN>{line.counterparty_iban}</IBAN></Id></{side}Acct>"
                if line.counterparty_iban
                else ""
            )
            + "</RltdPties>"
        )
    remittance = (
        "<RmtInf><Strd><CdtrRefInf><Ref>"
        f"{escape(line.creditor_reference)}</Ref></CdtrRefInf></Strd></RmtInf>"
        if line.creditor_reference
        else ""
    )
    returned = (
        f"<RtrInf><Rsn><Cd>{line.return_reason}</Cd></Rsn></RtrInf>" if line.return_reason else ""
    )
    reversal = "<RvslInd>true</RvslInd>" if line.reversal else ""
    return (
        f'<Ntry><NtryRef>{number}</NtryRef><Amt Ccy="{currency}">{amount}</Amt>'
        f"<CdtDbtInd>{direction}</CdtDbtInd>{reversal}<Sts><Cd>BOOK</Cd></Sts>"
        f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
        f"<AcctSvcrRef>B{number:08d}</AcctSvcrRef>"
        f"<NtryDtls><TxDtls>{refs}{parties}{remittance}{returned}</TxDtls></NtryDtls></Ntry>\n"
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
) -> bytes:
    """A camt.053.001.08 statement of `lines` for `day`, closing = opening + the lines."""
    text_day = day.isoformat()
    closing = opening_minor + sum(line.amount_minor for line in lines)
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NAMESPACE}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>MSG-{text_day}</MsgId><CreDtTm>{text_day}T23:00:00Z</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{escape(statement_id or f'{iban}-{text_day}')}</Id>"
        f"<CreDtTm>{text_day}T23:00:00Z</CreDtTm>"
        f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>",
        _balance("OPBD", opening_minor, currency, text_day),
        _balance("CLBD", closing, currency, text_day),
    ]
    parts.extend(
        _entry(line, currency, text_day, number) for number, line in enumerate(lines, start=1)
    )
    parts.append("</Stmt></BkToCstmrStmt></Document>\n")
    return "".join(parts).encode()
