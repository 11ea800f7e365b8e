"""Payments: the Payment (its state machine is payments.flows.state), its event log, the wallet
notifications received and the bank transfers that arrived for it.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from payments.orders.models import Order


class PaymentMethod(models.TextChoices):
    CARD = "card", "Card"
    WALLET = "wallet", "Wallet"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"


class PaymentStatus(models.TextChoices):
    CREATED = "created", "Created"
    REQUIRES_ACTION = "requires_action", "Requires action"  # 3-D Secure, wallet approval
    AWAITING_TRANSFER = "awaiting_transfer", "Awaiting bank transfer"
    AUTHORIZED = "authorized", "Authorised"
    CAPTURED = "captured", "Captured"
    FAILED = "failed", "Failed"
    VOIDED = "voided", "Voided"
    EXPIRED = "expired", "Expired"


class Payment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    provider = models.CharField(max_length=32)
    status = models.CharField(
        max_length=32, choices=PaymentStatus.choices, default=PaymentStatus.CREATED
    )
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # The provider's id for this payment; unique per provider.
    provider_reference = models.CharField(max_length=128, blank=True, default="")
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # --- Payment side (branch `payments`) ---
    # What the buyer may see again: card token/brand/last4/expiry, wallet name, return URL. Never a
    # PAN or a CVC.
    details = models.JSONField(default=dict, blank=True)
    vaulted_card = models.ForeignKey(
        "payments.VaultedCard",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    # ISO 11649 creditor reference the buyer quotes on a bank transfer.
    bank_reference = models.CharField(max_length=35, null=True, blank=True, unique=True)
    # Bank transfer: expires unpaid after this; 3-D Secure / wallet: the challenge lapses.
    expires_at = models.DateTimeField(null=True, blank=True)
    captured_minor = models.BigIntegerField(default=0)
    # Calls made to the provider to authorise (retries of retryable errors included).
    provider_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
            models.UniqueConstraint(
                fields=["provider", "provider_reference"],
                condition=~Q(provider_reference=""),
                name="payment_provider_reference_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.amount_minor} {self.currency} ({self.status})"


class PaymentEvent(models.Model):
    """One row per state change: who, when, from, to, why. Append-only."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=32)
    to_status = models.CharField(max_length=32)
    actor = models.CharField(
        max_length=64, help_text="buyer:<id>, seller:<id>, staff:<id>, system, provider:<name>"
    )
    reason = models.CharField(max_length=255, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status} ({self.payment_id})"


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
