"""Reconciliation shown on settlement's own admin pages: a payout's statement lines (the links
payout -> statement line), without settlement/admin.py importing the whole reconciliation admin."""

from __future__ import annotations

from core.admin_base import ReadOnlyInline
from core.money import Money
from settlement.reconciliation.models import LineMatch


def money(amount_minor: int | None, currency: str) -> str:
    """Minor units shown in their currency ("1,234.56 EUR" as "€1,234.56")."""
    if amount_minor is None:
        return "-"
    try:
        return Money(int(amount_minor), currency).format()
    except (TypeError, ValueError):
        return f"{amount_minor} {currency} (minor units)"


class PayoutStatementLineInline(ReadOnlyInline):
    model = LineMatch
    fk_name = "payout"
    fields = ("line", "kind", "rule", "amount_minor", "matched_by", "created_at")
    show_change_link = False
    verbose_name = "statement line"
    verbose_name_plural = "Statement lines (reconciliation)"
