"""The dashboard's own rows: a seller's sales, fees and refunds per day and currency, kept from the
ledger's log by a set-based job (daily_totals.py), so a chart reads at most one row per day
whatever the seller's history. Imported by settlement/models.py (Django finds models there)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

__all__ = ["LogCursor", "SellerDailyTotal"]


class SellerDailyTotal(models.Model):
    """One seller's day in one currency (UTC days), summed from the ledger: captured sales, the
    platform's fees on releases, refunds paid. Derived data, never money itself: the job adds
    each log entry once (its cursor moves in the same transaction)."""

    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    day = models.DateField()
    currency = models.CharField(max_length=3)
    sales_minor = models.BigIntegerField(default=0)
    sales_count = models.IntegerField(default=0)
    fees_minor = models.BigIntegerField(default=0)
    refunds_minor = models.BigIntegerField(default=0)
    refunds_count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index a chart reads: one seller's days in a range.
            models.UniqueConstraint(
                fields=["seller", "day", "currency"], name="seller_daily_total_one_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.seller_id} {self.day} {self.currency}"


class LogCursor(models.Model):
    """How far a job that reads the ledger's log has got: the next log index it will read. Locked
    and moved in the transaction that writes what the job made of the entries before it."""

    name = models.CharField(max_length=64, primary_key=True)
    next_index = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.next_index}"
