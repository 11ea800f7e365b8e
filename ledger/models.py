"""Double-entry ledger on TigerBeetle's model.

An Account keeps four counters (debits/credits x pending/posted). A Transfer is an immutable row
that moves `amount_minor` from `debit_account` to `credit_account` in one currency. Pending
transfers are later posted (fully or partly) or voided, exactly once: the partial unique constraint
on `pending` makes a second close impossible whatever runs concurrently.

Accounts with a limit flag are updated under a row lock in the same transaction as the transfer.
Accounts without a limit may instead receive a BalanceDelta row (no lock: the way hot accounts stay
fast); a folder moves deltas into the counters later. A balance read is counters + unfolded deltas.

The transfers form one append-only log for sealing: each posting adds a LogQueue row; the sealer
moves queued transfers into LogEntry with dense indexes (so transactions that commit out of order
still land in the log exactly once) and signs Seals over the RFC 6962 Merkle tree of the log.
Other apps may put records (a kind and opaque bytes, e.g. a receipt) in the same log through
LogRecordQueue; their leaves are domain-separated from the transfers' (canonical_record.py).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q


class Account(models.Model):
    currency = models.CharField(max_length=3)
    code = models.CharField(max_length=128, help_text="e.g. platform:escrow, seller:42:available")
    owner_ref = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="what owns it, e.g. seller:42; the ledger does not look",
    )
    debits_must_not_exceed_credits = models.BooleanField(default=False)
    credits_must_not_exceed_debits = models.BooleanField(default=False)
    debits_pending = models.BigIntegerField(default=0)
    debits_posted = models.BigIntegerField(default=0)
    credits_pending = models.BigIntegerField(default=0)
    credits_posted = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["currency", "code"], name="ledger_account_code_unique"),
            models.CheckConstraint(
                condition=~(
                    Q(debits_must_not_exceed_credits=True) & Q(credits_must_not_exceed_debits=True)
                ),
                name="ledger_account_one_limit_flag",
            ),
            models.CheckConstraint(
                condition=Q(
                    debits_pending__gte=0,
                    debits_posted__gte=0,
                    credits_pending__gte=0,
                    credits_posted__gte=0,
                ),
                name="ledger_account_counters_not_negative",
            ),
            # The limits hold in the database too, not only in the service.
            models.CheckConstraint(
                condition=Q(debits_must_not_exceed_credits=False)
                | Q(debits_pending__lte=F("credits_posted") - F("debits_posted")),
                name="ledger_account_debit_limit",
            ),
            models.CheckConstraint(
                condition=Q(credits_must_not_exceed_debits=False)
                | Q(credits_pending__lte=F("debits_posted") - F("credits_posted")),
                name="ledger_account_credit_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.currency})"


class TransferKind(models.TextChoices):
    POSTED = "posted", "Posted"
    PENDING = "pending", "Pending"
    POST_PENDING = "post_pending", "Post pending"
    VOID_PENDING = "void_pending", "Void pending"


class Transfer(models.Model):
    # The caller chooses the id: it is the idempotency key.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    kind = models.CharField(max_length=16, choices=TransferKind.choices)
    # No declared FOREIGN KEY on the two accounts (nor on BalanceDelta.account, LogQueue.transfer):
    # PostgreSQL would check each one row by row at commit (three SELECT ... FOR KEY SHARE per
    # transfer, a third of a batch's time, and a MultiXact on a hot account). Migration 0003 keeps
    # the same guarantee set-wise instead: accounts and transfers can never be deleted (nor their
    # ids changed), and one statement-level trigger per INSERT checks that what the new rows
    # name exists. The (account, created_at) indexes below serve account lookups.
    debit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    credit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # For post_pending / void_pending: the pending transfer being closed.
    # Indexed by the partial unique constraint ledger_transfer_close_once.
    pending = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # For pending: after this time the timeout task voids it.
    timeout_at = models.DateTimeField(null=True, blank=True)
    # Transfers applied together, all or none.
    batch_id = models.UUIDField(null=True, blank=True, db_index=True)
    reason = models.CharField(max_length=64)
    reference = models.CharField(
        max_length=128,
        blank=True,
        default="",
        help_text="what caused it, e.g. order:12, payout:7",
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="ledger_transfer_positive"
            ),
            models.CheckConstraint(
                condition=~Q(debit_account=F("credit_account")), name="ledger_transfer_two_accounts"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["post_pending", "void_pending"], pending__isnull=False)
                | Q(kind__in=["posted", "pending"], pending__isnull=True),
                name="ledger_transfer_pending_reference",
            ),
            # A pending transfer is closed (posted or voided) at most once.
            models.UniqueConstraint(
                fields=["pending"],
                condition=Q(pending__isnull=False),
                name="ledger_transfer_close_once",
            ),
        ]
        indexes = [
            models.Index(fields=["debit_account", "created_at"], name="ledger_tr_debit_time"),
            models.Index(fields=["credit_account", "created_at"], name="ledger_tr_credit_time"),
            # Equality lookups only (no LIKE index: the admin's search is a substring search).
            models.Index(fields=["reference"], name="ledger_tr_reference"),
            models.Index(
                fields=["timeout_at"],
                condition=Q(kind="pending", timeout_at__isnull=False),
                name="ledger_tr_pending_timeout",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_minor} {self.currency} ({self.id})"


class BalanceDelta(models.Model):
    """Counter increments for an account without a limit, written without locking the account."""

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="deltas", db_constraint=False
    )
    debits_pending = models.BigIntegerField(default=0)
    debits_posted = models.BigIntegerField(default=0)
    credits_pending = models.BigIntegerField(default=0)
    credits_posted = models.BigIntegerField(default=0)


class LogQueue(models.Model):
    """Transfers committed but not yet given a place in the sealed log."""

    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, primary_key=True, related_name="+", db_constraint=False
    )


class LogRecord(models.Model):
    """A record another app puts in the log beside the transfers, so that seals cover it too: a
    kind and opaque bytes, which the ledger never reads (ledger/canonical_record.py gives their
    leaf). Never changed nor deleted (triggers of migration 0004); a correction is a new record."""

    # The caller chooses the id: it is the idempotency key.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    kind = models.CharField(max_length=64)
    payload = models.BinaryField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__regex=r"^[a-z][a-z0-9_.]{0,63}$"), name="ledger_record_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} record {self.id}"


class LogRecordQueue(models.Model):
    """Records committed but not yet given a place in the sealed log."""

    record = models.OneToOneField(
        LogRecord, on_delete=models.PROTECT, primary_key=True, related_name="+"
    )


class LogEntry(models.Model):
    """The append-only log: index i (0-based, dense) holds one transfer or one record, and its
    RFC 6962 leaf hash."""

    index = models.BigIntegerField(primary_key=True)
    transfer = models.OneToOneField(
        Transfer, null=True, on_delete=models.PROTECT, related_name="log_entry"
    )
    # Unique where set (below): a plain UNIQUE would index the NULL of every transfer's entry.
    record = models.ForeignKey(
        LogRecord, null=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    leaf_hash = models.BinaryField(max_length=32)

    class Meta:
        verbose_name_plural = "log entries"
        constraints = [
            models.UniqueConstraint(
                fields=["record"],
                condition=Q(record__isnull=False),
                name="ledger_logentry_record_once",
            ),
            models.CheckConstraint(
                condition=Q(transfer__isnull=False, record__isnull=True)
                | Q(transfer__isnull=True, record__isnull=False),
                name="ledger_logentry_one_leaf",
            ),
        ]


class Seal(models.Model):
    """A signed tree head: the log's size and Merkle root at a time, chained to the previous head."""

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.BinaryField(max_length=32)
    sealed_at = models.DateTimeField()
    previous_hash = models.BinaryField(max_length=32, help_text="hash of the previous head's bytes")
    key_id = models.CharField(max_length=64)
    signature = models.BinaryField(max_length=512)

    class Meta:
        ordering = ["tree_size"]

    def __str__(self) -> str:
        return f"seal size={self.tree_size}"
