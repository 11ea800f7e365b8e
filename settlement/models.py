"""Settlement's own rows: batches (what a seller is owed for a period, as a range of the ledger's
log) and payouts (one attempt to pay a batch to the seller's bank). Money itself lives only in the
ledger: a batch names the ledger transfers it covers, a payout the transfers that moved it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class SettlementBatch(models.Model):
    """One seller's net for one currency and period: the posted transfers on the seller's
    `available` account whose log index lies in [log_from, log_to), payouts' own transfers left
    out. Consecutive batches of a seller and currency tile the log: each starts where the last one
    ended (a unique key, so two overlapping runs cannot both cover the same transfers)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="settlement_batches"
    )
    currency = models.CharField(max_length=3)
    period_start = models.DateField(null=True, blank=True, help_text="the previous batch's day")
    period_end = models.DateField(help_text="the schedule's day this batch was made for")
    log_from = models.BigIntegerField()
    log_to = models.BigIntegerField()
    net_minor = models.BigIntegerField()
    line_count = models.IntegerField()
    credits_minor = models.BigIntegerField(help_text="sum of the lines that paid in")
    debits_minor = models.BigIntegerField(help_text="sum of the lines that took out (as positive)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "settlement batches"
        constraints = [
            models.UniqueConstraint(
                fields=["seller", "currency", "period_end"], name="settlement_batch_one_per_period"
            ),
            models.UniqueConstraint(
                fields=["seller", "currency", "log_from"], name="settlement_batch_tiles_the_log"
            ),
            models.CheckConstraint(
                condition=Q(log_to__gt=models.F("log_from")), name="settlement_batch_range"
            ),
            models.CheckConstraint(condition=Q(net_minor__gt=0), name="settlement_batch_positive"),
            models.CheckConstraint(
                condition=Q(net_minor=models.F("credits_minor") - models.F("debits_minor")),
                name="settlement_batch_sums",
            ),
        ]
        indexes = [
            models.Index(fields=["seller", "currency", "-log_to"], name="settlement_batch_last"),
            # The seller's batches newest first (the dashboard's keyset pages).
            models.Index(
                fields=["seller", "-period_end", "-currency"], name="settlement_batch_recent"
            ),
        ]
        ordering = ["-period_end", "currency"]

    def __str__(self) -> str:
        return f"batch {self.seller_id} {self.currency} {self.period_end}"


class PayoutStatus(models.TextChoices):
    CREATED = "created", "Created"
    SUBMITTED = "submitted", "Submitted to the bank"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    RETURNED = "returned", "Returned by the bank"  # read by staff and by the seller alike


LIVE_PAYOUT_STATUSES = (PayoutStatus.CREATED, PayoutStatus.SUBMITTED, PayoutStatus.PAID)
FINAL_PAYOUT_STATUSES = (PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.RETURNED)


class Payout(models.Model):
    """One attempt to pay a batch. Its id (as `bank_id`) is the bank's idempotency key and the ISO 20022
    end-to-end id. A failed or returned payout is final; the batch is paid again by a new payout
    (a new id) once the seller has fixed the bank account."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey(SettlementBatch, on_delete=models.PROTECT, related_name="payouts")
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts"
    )
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=16, choices=PayoutStatus.choices, default=PayoutStatus.CREATED
    )
    # The account paid, as it was when the payout was made (the profile may change later).
    creditor_name = models.CharField(max_length=200)
    iban = models.CharField(max_length=34)  # blank for a US account (routing + account number)
    bic = models.CharField(max_length=11, blank=True)
    routing_number = models.CharField(max_length=20, blank=True, default="", db_default="")
    account_number = models.CharField(max_length=34, blank=True, default="", db_default="")
    bank_reference = models.CharField(max_length=64, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    # When the sweeper next asks the bank about it (a deadline per state; for a paid payout the
    # end of its return window); NULL when nothing is left to ask.
    check_after = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(default=0, help_text="submit calls made")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    # The bank's own time of the state the payout is in (TransferResult.occurred_at of the answer
    # that moved it there); NULL when the bank did not say. An answer about an earlier state that
    # is not newer than this one arrived late (settlement.payouts.answers).
    bank_status_at = models.DateTimeField(null=True, blank=True)
    # When seller and buyers were told of the current final state (settlement/payouts/
    # notifications.py); NULL in a final state: the sweeper tells them (a lost task message).
    notified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payout_positive"),
            # At most one payout of a batch is alive (created, submitted or paid).
            models.UniqueConstraint(
                fields=["batch"],
                condition=Q(status__in=["created", "submitted", "paid"]),
                name="payout_one_live_per_batch",
            ),
        ]
        indexes = [
            # Payouts the sweeper watches: created, submitted, and paid until the return window
            # ends (check_after is NULL once nothing is left to ask).
            models.Index(
                fields=["check_after"],
                condition=Q(check_after__isnull=False),
                name="payout_watched_due",
            ),
            models.Index(fields=["seller", "-created_at"], name="payout_seller_recent"),
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["paid", "failed", "returned"], notified_at__isnull=True),
                name="payout_to_notify",
            ),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"payout {self.id} {self.amount_minor} {self.currency} {self.status}"

    @property
    def account_last4(self) -> str:
        """The end of the account paid, as pages show it."""
        return (self.iban or self.account_number)[-4:]

    @property
    def bank_id(self) -> str:
        """The id the bank knows the payout by (idempotency key, ISO 20022 end-to-end id): the
        32 hex digits, as Max35Text has no room for the hyphens."""
        return self.id.hex


class BankCallbackReceipt(models.Model):
    """A bank callback already acted on (by its webhook-id): a duplicate is acknowledged and
    ignored."""

    callback_id = models.CharField(max_length=128, primary_key=True)
    kind = models.CharField(max_length=16)
    received_at = models.DateTimeField(auto_now_add=True)
    payload = models.JSONField(default=dict)


class HeldRelease(models.Model):
    """A release's net amount, credited to `seller:<id>:pending`, waiting for its hold period.
    Written in the release's transaction; the hold and the reserve are fixed then from the seller's
    fee plan (a later plan change does not move money already released). The maturation task
    claims due rows set-wise and moves them on (settlement/maturation.py)."""

    release_transfer_id = models.UUIDField(primary_key=True)
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="held_releases"
    )
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField(help_text="the release's net: what pending received")
    reserve_minor = models.BigIntegerField(default=0, help_text="of it, what the reserve keeps")
    due_at = models.DateTimeField(help_text="the hold period ends")
    reserve_due_at = models.DateTimeField(null=True, blank=True, help_text="the reserve ends")
    matured_at = models.DateTimeField(null=True, blank=True)
    reserve_released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="held_release_positive"),
            models.CheckConstraint(
                condition=Q(reserve_minor__gte=0, reserve_minor__lte=models.F("amount_minor")),
                name="held_release_reserve_within",
            ),
            models.CheckConstraint(
                condition=Q(reserve_minor=0) | Q(reserve_due_at__isnull=False),
                name="held_release_reserve_has_end",
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(matured_at__isnull=True), name="held_release_due"
            ),
            models.Index(
                fields=["reserve_due_at"],
                condition=Q(
                    matured_at__isnull=False, reserve_released_at__isnull=True, reserve_minor__gt=0
                ),
                name="held_release_reserve_due",
            ),
        ]


class PayoutEvent(models.Model):
    """A payout's history: each state it reached and each bank answer that contradicted it (a case
    for staff), in order."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=32)  # "submitted", "paid", ..., "contradiction"
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(kind="contradiction"),
                name="payout_event_cases",
            )
        ]


class FxRate(models.Model):
    """A foreign-exchange rate as known at `as_of`: 1 `base` = `rate` `quote`, in major units
    (1 EUR = 1.0850000000 USD). Exact (a decimal, never a float), with where it came from. A rate
    is a fact of its time: it is never edited; a correction is a newer rate. Conversions take the
    latest one at or before their own time (settlement/fx_rates.py)."""

    base = models.CharField(max_length=3, help_text="ISO 4217, e.g. EUR")
    quote = models.CharField(max_length=3, help_text="ISO 4217, e.g. USD")
    rate = models.DecimalField(
        max_digits=20, decimal_places=10, help_text="units of quote for one unit of base"
    )
    as_of = models.DateTimeField(help_text="when the rate was the market's")
    source = models.CharField(max_length=128, help_text='"staff:<id>", "csv:<file>", "ecb", ...')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["base", "quote", "as_of"], name="fx_rate_one_per_time"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="fx_rate_positive"),
            models.CheckConstraint(condition=~Q(base=models.F("quote")), name="fx_rate_two_sides"),
        ]
        indexes = [models.Index(fields=["base", "quote", "-as_of"], name="fx_rate_latest")]
        ordering = ["-as_of", "base", "quote"]

    def __str__(self) -> str:
        return f"1 {self.base} = {self.rate} {self.quote} at {self.as_of:%Y-%m-%d %H:%M} UTC"

    def clean(self) -> None:
        # The one validation of a rate (the admin form and the CSV import both run it).
        from settlement.fx_rates import validate_fx_rate

        validate_fx_rate(self)


class FxConversion(models.Model):
    """One conversion of a seller's money in a sale currency into the settlement currency: the
    seller's net on `seller:<id>:available` in `source_currency` over the log range [log_from,
    log_to), sold at the rate and less the spread. Its transfers are in the ledger (settlement/
    fx.py); this row is the seller's cursor in that currency: consecutive conversions tile the
    log like batches do (a unique key, so two overlapping runs cannot both convert a range)."""

    # uuid5 of the chart's FX namespace and the seller, currency and range: its transfers' ids
    # derive from it, so a replay posts nothing twice.
    id = models.UUIDField(primary_key=True, editable=False)
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fx_conversions"
    )
    source_currency = models.CharField(max_length=3)
    target_currency = models.CharField(max_length=3)
    log_from = models.BigIntegerField()
    log_to = models.BigIntegerField()
    source_minor = models.BigIntegerField(help_text="the net converted, in source_currency")
    gross_minor = models.BigIntegerField(help_text="its value at the rate, in target_currency")
    spread_minor = models.BigIntegerField(help_text="of it, what the platform keeps")
    target_minor = models.BigIntegerField(help_text="of it, what the seller gets")
    spread_bps = models.IntegerField()
    fx_rate = models.ForeignKey(FxRate, on_delete=models.PROTECT, related_name="conversions")
    inverted = models.BooleanField(help_text="the rate was quoted the other way round")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["seller", "source_currency", "log_from"], name="fx_conversion_tiles_the_log"
            ),
            models.CheckConstraint(
                condition=Q(log_to__gt=models.F("log_from")), name="fx_conversion_range"
            ),
            models.CheckConstraint(
                condition=Q(source_minor__gt=0, target_minor__gt=0, spread_minor__gte=0),
                name="fx_conversion_positive",
            ),
            models.CheckConstraint(
                condition=Q(gross_minor=models.F("target_minor") + models.F("spread_minor")),
                name="fx_conversion_sums",
            ),
        ]
        indexes = [
            models.Index(
                fields=["seller", "source_currency", "-log_to"], name="fx_conversion_last"
            ),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return (
            f"conversion {self.seller_id} {self.source_minor} {self.source_currency} -> "
            f"{self.target_minor} {self.target_currency}"
        )


# Issued receipts live with the code that issues them; imported here so Django registers them.
# The seller dashboard's daily totals and the cursor of the job that keeps them.
from settlement.confirmations.models import Acknowledgement, ConfirmationRecord  # noqa: E402, F401
from settlement.dashboard.models import LogCursor, SellerDailyTotal  # noqa: E402, F401
from settlement.receipts.models import Receipt  # noqa: E402, F401

# Reconciliation: imported statements, their lines and matches, the work queue and its audit.
from settlement.reconciliation.models import (  # noqa: E402, F401
    Adjustment,
    AuditEntry,
    BankStatement,
    LineMatch,
    StatementFile,
    StatementLine,
    WorkItem,
)
