"""The daily reconciliation report: for one day, per currency and bank account, what the bank says
against what the ledger and the platform say. Each check is (label, bank or provider side,
platform side); a difference is highlighted on the page and linked to the open work items of
that currency.

    bank movement      the statement's closing minus opening balance, against the day's net of
                       the ledger's bank clearing accounts (money in on external:bank_transfer,
                       money out on external:bank, adjustments included)
    payouts            payouts the platform shows paid that day, against the statement's debits
                       matched to payouts
    incoming           bank-transfer arrivals the platform recorded that day, against the
                       statement's credits matched to payments
    captures           the providers' captures (payment events), against the ledger's captures
                       (posted into escrow from external:<provider>, bank transfers aside)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection

from ledger import chart

_BANK_MOVEMENT = """
SELECT coalesce(sum(CASE WHEN d.code = %(incoming)s THEN t.amount_minor ELSE 0 END)
              - sum(CASE WHEN c.code = %(incoming)s THEN t.amount_minor ELSE 0 END)
              - sum(CASE WHEN c.code = %(outgoing)s THEN t.amount_minor ELSE 0 END)
              + sum(CASE WHEN d.code = %(outgoing)s THEN t.amount_minor ELSE 0 END), 0)
  FROM ledger_transfer t
  JOIN ledger_account d ON d.id = t.debit_account_id
  JOIN ledger_account c ON c.id = t.credit_account_id
 WHERE t.currency = %(currency)s AND t.kind IN ('posted', 'post_pending')
   AND t.created_at >= %(start)s AND t.created_at < %(end)s
   AND (d.code IN (%(incoming)s, %(outgoing)s) OR c.code IN (%(incoming)s, %(outgoing)s))
"""
_PAYOUTS_PAID = """
SELECT coalesce(sum(amount_minor), 0) FROM settlement_payout
 WHERE currency = %(currency)s AND paid_at >= %(start)s AND paid_at < %(end)s
"""
_MATCHED = """
SELECT coalesce(sum(m.amount_minor), 0)
  FROM settlement_linematch m
  JOIN settlement_statementline l ON l.id = m.line_id
 WHERE l.statement_id = ANY(%(statements)s) AND m.kind = %(kind)s
"""
_ARRIVALS = """
SELECT coalesce(sum(amount_minor), 0) FROM payments_banktransferarrival
 WHERE currency = %(currency)s AND created_at >= %(start)s AND created_at < %(end)s
"""
_PROVIDER_CAPTURES = """
SELECT coalesce(sum(p.captured_minor), 0) FROM payments_payment p
 WHERE p.currency = %(currency)s AND p.method <> 'bank_transfer'
   AND EXISTS (SELECT 1 FROM payments_paymentevent e WHERE e.payment_id = p.id
                AND e.to_status = 'captured' AND e.created_at >= %(start)s
                AND e.created_at < %(end)s)
"""
_LEDGER_CAPTURES = """
SELECT coalesce(sum(t.amount_minor), 0)
  FROM ledger_transfer t
  JOIN ledger_account d ON d.id = t.debit_account_id
  JOIN ledger_account c ON c.id = t.credit_account_id
 WHERE t.currency = %(currency)s AND t.kind IN ('posted', 'post_pending')
   AND t.created_at >= %(start)s AND t.created_at < %(end)s
   AND c.code = %(escrow)s AND d.code LIKE 'external:%%'
   AND d.code NOT IN (%(incoming)s, %(outgoing)s)
"""


@dataclass
class Check:
    label: str
    bank_minor: int
    platform_minor: int

    @property
    def difference_minor(self) -> int:
        return self.bank_minor - self.platform_minor


@dataclass
class ReportRow:
    currency: str
    account_iban: str
    statements: list[str]
    opening_minor: int
    closing_minor: int
    checks: list[Check] = field(default_factory=list)
    open_items: int = 0

    @property
    def clean(self) -> bool:
        return self.open_items == 0 and all(check.difference_minor == 0 for check in self.checks)


def daily_report(day: dt.date) -> list[ReportRow]:
    """One row per currency and bank account with a statement for `day` (UTC)."""
    from settlement.reconciliation.models import BankStatement, WorkItem, WorkStatus

    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    span = {"start": start, "end": start + dt.timedelta(days=1)}
    accounts: dict[tuple[str, str], list[BankStatement]] = {}
    for statement in BankStatement.objects.filter(statement_date=day).order_by("created_at"):
        accounts.setdefault((statement.currency, statement.account_iban), []).append(statement)
    rows = []
    for (currency, iban), statements in sorted(accounts.items()):
        ids = [statement.pk for statement in statements]
        args = span | {
            "currency": currency,
            "statements": ids,
            "incoming": chart.external("bank_transfer"),
            "outgoing": chart.BANK,
            "escrow": chart.ESCROW,
        }
        row = ReportRow(
            currency=currency,
            account_iban=iban,
            statements=[statement.statement_id for statement in statements],
            opening_minor=statements[0].opening_minor,
            closing_minor=statements[-1].closing_minor,
        )
        bank_movement = row.closing_minor - row.opening_minor
        row.checks = [
            Check("bank movement vs ledger", bank_movement, _one(_BANK_MOVEMENT, args)),
            Check(
                "payouts debited vs paid",
                _one(_MATCHED, args | {"kind": "payout"}),
                _one(_PAYOUTS_PAID, args),
            ),
            Check(
                "incoming received vs recorded",
                _one(_MATCHED, args | {"kind": "incoming"}),
                _one(_ARRIVALS, args),
            ),
            Check(
                "provider captures vs ledger",
                _one(_PROVIDER_CAPTURES, args),
                _one(_LEDGER_CAPTURES, args),
            ),
        ]
        row.open_items = WorkItem.objects.filter(status=WorkStatus.OPEN, currency=currency).count()
        rows.append(row)
    return rows


def _one(sql: str, args: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return int(cursor.fetchone()[0])


def report_csv_rows(rows: list[ReportRow]) -> list[list[str]]:
    """The report as CSV rows (a header, then one row per account and check)."""
    out = [
        ["currency", "account_iban", "check", "bank_minor", "platform_minor", "difference_minor"]
    ]
    for row in rows:
        out.append(
            [row.currency, row.account_iban, "closing balance", str(row.closing_minor), "", ""]
        )
        for check in row.checks:
            out.append(
                [
                    row.currency,
                    row.account_iban,
                    check.label,
                    str(check.bank_minor),
                    str(check.platform_minor),
                    str(check.difference_minor),
                ]
            )
        out.append([row.currency, row.account_iban, "open work items", str(row.open_items), "", ""])
    return out
