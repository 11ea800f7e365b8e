"""Reconciliation's own rows: imported bank statements and their lines, the matches found for them
(each with the rule that made it), the staff work queue, adjustments and the audit trail.
Imported by settlement/models.py (Django finds models there). Money itself moves only in the
ledger: an adjustment names the transfer it posted."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

__all__ = [
    "Adjustment",
    "AuditEntry",
    "BankStatement",
    "LineMatch",
    "StatementFile",
    "StatementLine",
    "WorkItem",
]


class StatementFile(models.Model):
    """One uploaded or fetched file, by the SHA-256 of its bytes: the same file twice is refused
    as already imported (a unique key, so two concurrent imports cannot both write it)."""

    sha256 = models.CharField(max_length=64, unique=True)
    filename = models.CharField(max_length=255)
    format = models.CharField(max_length=16)  # camt053, mt940, csv
    size_bytes = models.BigIntegerField()
    imported_by = models.CharField(max_length=64, help_text='"staff:<id>", "command", "beat"')
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.filename} ({self.format})"


class BankStatement(models.Model):
    """One account's statement for one period, as the bank reported it. (account, statement id)
    is unique: the same statement in another file is not imported twice."""

    file = models.ForeignKey(StatementFile, on_delete=models.PROTECT, related_name="statements")
    account_iban = models.CharField(max_length=34)
    currency = models.CharField(max_length=3)
    statement_id = models.CharField(max_length=64)
    message_id = models.CharField(max_length=64, blank=True)
    statement_date = models.DateField(help_text="the day of the closing balance")
    opening_minor = models.BigIntegerField()
    closing_minor = models.BigIntegerField()
    line_count = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account_iban", "statement_id"], name="recon_statement_once"
            )
        ]
        indexes = [models.Index(fields=["currency", "statement_date"], name="recon_stmt_day")]
        ordering = ["-statement_date", "account_iban"]

    def __str__(self) -> str:
        return f"{self.account_iban} {self.statement_id} ({self.statement_date})"


class LineState(models.TextChoices):
    UNMATCHED = "unmatched", "Unmatched"
    MATCHED = "matched", "Matched"
    RESOLVED = "resolved", "Resolved by staff"


class StatementLine(models.Model):
    """One transaction on a statement (a batch booking is one line per transaction). The amount
    is signed: positive money in, negative money out."""

    # No index of its own: the unique (statement, position) index below leads with it, and a
    # second one only made each line's COPY (and each non-HOT update) write one more index.
    statement = models.ForeignKey(
        BankStatement, on_delete=models.PROTECT, related_name="lines", db_index=False
    )
    position = models.IntegerField()
    amount_minor = models.BigIntegerField(help_text="signed: + credit, - debit")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=8)  # BOOK, PDNG, INFO
    booking_date = models.DateField(null=True, blank=True)
    value_date = models.DateField(null=True, blank=True)
    reversal = models.BooleanField(default=False)
    end_to_end_id = models.CharField(max_length=64, blank=True)
    creditor_reference = models.CharField(max_length=64, blank=True)
    bank_reference = models.CharField(max_length=64, blank=True)
    entry_reference = models.CharField(max_length=64, blank=True)
    counterparty_name = models.CharField(max_length=140, blank=True)
    counterparty_iban = models.CharField(max_length=34, blank=True)
    remittance = models.CharField(max_length=500, blank=True)
    return_reason = models.CharField(max_length=16, blank=True)
    state = models.CharField(max_length=16, choices=LineState.choices, default=LineState.UNMATCHED)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["statement", "position"], name="recon_line_position")
        ]
        # No index on `state` or the references: matching reads the unmatched lines set-wise
        # (hash joins), and an unindexed `state` lets marking 100,000 lines matched be HOT
        # updates, given room on the page: the table has fillfactor 50 (migration 0014).
        ordering = ["statement", "position"]

    def __str__(self) -> str:
        return f"line {self.pk}: {self.amount_minor} {self.currency} {self.end_to_end_id}"


class MatchKind(models.TextChoices):
    PAYOUT = "payout", "Payout"
    PAYOUT_RETURN = "payout_return", "Payout returned"
    INCOMING = "incoming", "Incoming bank transfer"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Adjustment"


class LineMatch(models.Model):
    """One line matched to one object, and why. A line the bank netted has several rows (one per
    payout); a payout the bank split has several lines. `amount_minor` is the part of the line
    (positive) that this object explains."""

    line = models.ForeignKey(StatementLine, on_delete=models.PROTECT, related_name="matches")
    kind = models.CharField(max_length=16, choices=MatchKind.choices)
    payout = models.ForeignKey(
        "settlement.Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Most matches are payouts': the other targets are indexed only where set (below).
    payment = models.ForeignKey(
        "payments.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    refund = models.ForeignKey(
        "payments.Refund",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    adjustment = models.ForeignKey(
        "settlement.Adjustment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    amount_minor = models.BigIntegerField()
    rule = models.CharField(max_length=48, help_text="why it matched")
    detail = models.JSONField(default=dict, blank=True)
    matched_by = models.CharField(max_length=64, default="auto")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["line", "payout"], condition=Q(payout__isnull=False), name="recon_m_payout"
            ),
            models.UniqueConstraint(
                fields=["line", "payment"],
                condition=Q(payment__isnull=False),
                name="recon_m_payment",
            ),
            models.UniqueConstraint(
                fields=["line", "refund"], condition=Q(refund__isnull=False), name="recon_m_refund"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.rule}"


class WorkKind(models.TextChoices):
    UNMATCHED_LINE = "unmatched_line", "Unmatched line (its reference matched nothing)"
    UNKNOWN_LINE = "unknown_line", "Unknown line (no reference)"
    OVERDUE_PAYOUT = "overdue_payout", "Payout not on a statement past its expected date"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    DUPLICATE = "duplicate", "Duplicate line"
    STATUS_MISMATCH = "status_mismatch", "Bank and platform disagree on a payout's state"
    OVERPAYMENT = "overpayment", "Over-payment to refund"
    DISPUTE = "dispute", "Open dispute"
    CONFIRMATION = "confirmation", "Two-sided confirmation case"
    STATEMENT_CONFLICT = "statement_conflict", "A statement came again with other content"


class WorkStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class WorkItem(models.Model):
    """Something staff must look at. Opened set-wise by matching (at most one open item per kind
    and object: partial unique keys), closed by a staff action that is audited."""

    kind = models.CharField(max_length=24, choices=WorkKind.choices)
    status = models.CharField(max_length=12, choices=WorkStatus.choices, default=WorkStatus.OPEN)
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField(default=0)
    difference_minor = models.BigIntegerField(default=0)
    line = models.ForeignKey(
        StatementLine, null=True, blank=True, on_delete=models.PROTECT, related_name="work_items"
    )
    payout = models.ForeignKey(
        "settlement.Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payment = models.ForeignKey(
        "payments.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dispute = models.ForeignKey(
        "payments.Dispute", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payout_event = models.ForeignKey(
        "settlement.PayoutEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    statement = models.ForeignKey(
        BankStatement, null=True, blank=True, on_delete=models.PROTECT, related_name="work_items"
    )
    summary = models.CharField(max_length=255)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recon_work_items",
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "line"],
                condition=Q(status="open", line__isnull=False),
                name="recon_work_open_line",
            ),
            models.UniqueConstraint(
                fields=["kind", "payout"],
                condition=Q(status="open", payout__isnull=False, line__isnull=True),
                name="recon_work_open_payout",
            ),
            models.UniqueConstraint(
                fields=["kind", "dispute"],
                condition=Q(status="open", dispute__isnull=False),
                name="recon_work_open_dispute",
            ),
            models.UniqueConstraint(
                fields=["kind", "payout_event"],
                condition=Q(payout_event__isnull=False),
                name="recon_work_one_per_case",
            ),
            models.UniqueConstraint(
                fields=["kind", "statement"],
                condition=Q(status="open", statement__isnull=False),
                name="recon_work_open_statement",
            ),
        ]
        indexes = [models.Index(fields=["status", "kind", "opened_at"], name="recon_work_queue")]
        ordering = ["opened_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"


class AdjustmentStatus(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting a second staff member's approval"
    POSTED = "posted", "Posted to the ledger"


class Adjustment(models.Model):
    """A correction as a ledger transfer between a bank clearing account and
    platform:recon_adjustments, with a reason. Above the configured amount it waits for a second
    staff member (never the requester) before anything is posted."""

    work_item = models.ForeignKey(
        WorkItem, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustments"
    )
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    account_code = models.CharField(max_length=64, help_text="the clearing account adjusted")
    direction = models.CharField(max_length=6, help_text="debit or credit the account")
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=AdjustmentStatus.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    transfer_id = models.UUIDField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="recon_adj_positive"),
            models.CheckConstraint(condition=~Q(reason=""), name="recon_adj_has_reason"),
            models.CheckConstraint(
                condition=Q(direction__in=["debit", "credit"]), name="recon_adj_direction"
            ),
            # The two-person rule, kept by the database too.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("requested_by")),
                name="recon_adj_four_eyes",
            ),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"adjustment {self.pk}: {self.direction} {self.account_code} {self.amount_minor}"


class AuditEntry(models.Model):
    """Who did what to which reconciliation object, when, with the values before and after.
    Append-only; shown under the object in the admin."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=32)
    work_item = models.ForeignKey(
        WorkItem, null=True, blank=True, on_delete=models.PROTECT, related_name="audit"
    )
    line = models.ForeignKey(
        StatementLine, null=True, blank=True, on_delete=models.PROTECT, related_name="audit"
    )
    adjustment = models.ForeignKey(
        Adjustment, null=True, blank=True, on_delete=models.PROTECT, related_name="audit"
    )
    payout = models.ForeignKey(
        "settlement.Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"
