"""Reconciliation shown on settlement's own admin pages: a payout's statement lines (the links
payout -> statement line), without settlement/admin.py importing the whole reconciliation admin."""

from __future__ import annotations

from core.admin_base import ReadOnlyInline
from settlement.reconciliation.models import LineMatch


class PayoutStatementLineInline(ReadOnlyInline):
    model = LineMatch
    fk_name = "payout"
    fields = ("line", "kind", "rule", "amount_minor", "matched_by", "created_at")
    show_change_link = False
    verbose_name = "statement line"
    verbose_name_plural = "Statement lines (reconciliation)"
