"""Payment-side models: the card vault, incoming wallet notifications, bank transfer arrivals, and
the records the in-process sandbox processors keep on their side of the (simulated) network.

Imported at the bottom of payments/models.py so Django registers them with the payments app.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

__all__ = [
    "BankTransferArrival",
    "SandboxCardCharge",
    "SandboxOperation",
    "SandboxWalletNotice",
    "SandboxWalletTrade",
    "VaultedCard",
    "WalletNotification",
]


class VaultedCard(models.Model):
    """One card in the vault. The PAN (and holder name) are AES-256-GCM ciphertext under a data key
    of their own; the data key is stored wrapped by a master key of the ring (key_id says which).
    Both use this row's id as associated data, so a blob copied onto another row will not open.
    Only token, brand, last4 and expiry ever leave the vault."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    token = models.CharField(max_length=48, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="vaulted_cards",
    )
    brand = models.CharField(max_length=16)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    key_id = models.CharField(max_length=64, db_index=True)
    wrapped_key = models.BinaryField()
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Deleting a card erases its ciphertext and key (crypto-shredding); the row stays because
    # payments refer to it by token.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-created_at"], name="vault_owner_recent")]

    def __str__(self) -> str:
        return f"{self.brand} ****{self.last4} ({self.token})"


class WalletNotificationOutcome(models.TextChoices):
    APPLIED = "applied", "Applied"
    DUPLICATE = "duplicate", "Duplicate (already applied)"
    IGNORED = "ignored", "Ignored (no state change)"
    REJECTED = "rejected", "Rejected"


class WalletNotification(models.Model):
    """Every notification a wallet sent us, kept as received (Zulip keeps incoming webhooks the
    same way). A notify_id is accepted once: the constraint covers verified, accepted rows only, so
    a forged notification that borrows a real notify_id cannot block the genuine one, and a
    rejected one does not stop the wallet's retry from being looked at again."""

    provider = models.CharField(max_length=32)
    notify_id = models.CharField(max_length=128, blank=True, default="")
    params = models.JSONField(default=dict)
    verified = models.BooleanField(default=False)
    outcome = models.CharField(max_length=16, choices=WalletNotificationOutcome.choices)
    error = models.TextField(blank=True, default="")
    payment = models.ForeignKey(
        "payments.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="wallet_notifications",
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "notify_id"],
                condition=Q(verified=True) & ~Q(outcome="rejected"),
                name="wallet_notification_accepted_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.notify_id} ({self.outcome})"


class BankTransferArrival(models.Model):
    """Money that reached the platform's bank account quoting a payment's RF reference.
    bank_transaction_id is the bank's own id for the credit: recording it twice is a no-op."""

    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.PROTECT, related_name="bank_arrivals"
    )
    bank_transaction_id = models.CharField(max_length=128, unique=True)
    reference = models.CharField(max_length=35)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # What the arrival did: part (still short), completed, completed with excess, or late.
    outcome = models.CharField(max_length=32)
    # Part of this arrival beyond what the payment needed: owed back to the buyer (staff refund).
    excess_minor = models.BigIntegerField(default=0)
    actor = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="bank_arrival_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(excess_minor__gte=0), name="bank_arrival_excess_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount_minor} {self.currency}"


# --- The sandbox processors' side of the wire ------------------------------------------------
# A real processor keeps these records on its own servers; the sandboxes keep them here so that
# web and worker processes share them. Nothing on the platform side reads them directly.


class SandboxCardCharge(models.Model):
    reference = models.CharField(max_length=64, unique=True)
    idempotency_key = models.CharField(max_length=128, unique=True)
    card_token = models.CharField(max_length=48)
    brand = models.CharField(max_length=16)
    last4 = models.CharField(max_length=4)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=32)
    captured_minor = models.BigIntegerField(default=0)
    refunded_minor = models.BigIntegerField(default=0)
    failure_code = models.CharField(max_length=64, blank=True, default="")
    challenge_expires_at = models.DateTimeField(null=True, blank=True)
    # Authorisation attempts seen for this idempotency key (retryable errors are not final).
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class SandboxWalletTrade(models.Model):
    provider = models.CharField(max_length=32)
    trade_no = models.CharField(max_length=64, unique=True)
    out_trade_no = models.CharField(max_length=64)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    subject = models.CharField(max_length=256, blank=True, default="")
    # WAIT_BUYER_PAY, TRADE_SUCCESS (approved: funds held), TRADE_FINISHED, TRADE_CLOSED
    status = models.CharField(max_length=32)
    captured_minor = models.BigIntegerField(default=0)
    refunded_minor = models.BigIntegerField(default=0)
    notify_url = models.CharField(max_length=512)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "out_trade_no"], name="sandbox_wallet_out_trade_no_unique"
            )
        ]


class SandboxWalletNotice(models.Model):
    """A notification the sandbox wallet owes the platform, delivered (and retried) by a task."""

    trade = models.ForeignKey(SandboxWalletTrade, on_delete=models.CASCADE, related_name="notices")
    notify_id = models.CharField(max_length=64, unique=True)
    params = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)


class SandboxOperation(models.Model):
    """Idempotency records for capture/void/refund on either sandbox: same key, same answer."""

    processor = models.CharField(max_length=32)
    idempotency_key = models.CharField(max_length=128)
    reference = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)
    amount_minor = models.BigIntegerField(default=0)
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["processor", "idempotency_key"], name="sandbox_operation_key_unique"
            )
        ]
