"""Reconciliation test data, made through the real services: payouts paid through the payout
services (a fake bank answering), statements written as camt.053 and imported by the importer."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from settlement.models import Payout, SettlementBatch
from settlement.payouts import services
from settlement.reconciliation.camt_writer import Line, statement_xml
from settlement.reconciliation.imports import import_statement_file
from settlement.reconciliation.models import (
    AuditEntry,
    BankStatement,
    LineMatch,
    StatementFile,
    StatementLine,
    WorkItem,
)
from tests.accounts.factories import SellerFactory
from tests.settlement.fake_bank import FakeBank

PLATFORM_IBAN = "DE02120300000000202051"

__all__ = ["PLATFORM_IBAN", "Line", "import_lines", "paid_payout", "row_counts", "today"]


def paid_payout(amount_minor: int = 10_000, *, iban: str | None = None, status="paid") -> Payout:
    """A payout of a new seller's batch, submitted and answered `status` by the bank. The batch
    row is made directly (the sale behind it is not reconciliation's business): the ledger holds
    only the payout's own transfers (available -> in transit -> external:bank)."""
    seller = SellerFactory()
    batch = SettlementBatch.objects.create(
        seller=seller,
        currency="EUR",
        period_end=today(),
        log_from=0,
        log_to=1,
        net_minor=amount_minor,
        line_count=1,
        credits_minor=amount_minor,
        debits_minor=0,
    )
    (payout_id,) = services.create_payouts([batch.pk])
    payout = Payout.objects.get(pk=payout_id)
    if iban:
        Payout.objects.filter(pk=payout.pk).update(iban=iban)
    bank = FakeBank()
    payout = services.submit(payout.pk, bank)
    if status in ("paid", "returned"):
        payout = services.apply_bank_answer(bank.settle(payout.bank_id, "paid"))
    if status == "returned":
        payout = services.apply_bank_answer(
            bank.settle(payout.bank_id, "returned", "closed_account")
        )
    if status == "rejected":
        payout = services.apply_bank_answer(
            bank.settle(payout.bank_id, "rejected", "invalid_account")
        )
    return payout


def today() -> dt.date:
    return timezone.now().date()


def statement_bytes(
    lines, *, day=None, statement_id=None, opening=1_000_000, message_id=None
) -> bytes:
    return statement_xml(
        iban=PLATFORM_IBAN,
        currency="EUR",
        day=day or today(),
        lines=lines,
        opening_minor=opening,
        statement_id=statement_id,
        message_id=message_id,
    )


def import_lines(lines, *, day=None, statement_id=None):
    data = statement_bytes(lines, day=day, statement_id=statement_id)
    return import_statement_file(data, filename="statement.xml", actor="test")


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (StatementFile, BankStatement, StatementLine, LineMatch, WorkItem, AuditEntry)
    }
