"""Fulfilment: the sealed order document a seller signs to accept, refunds and disputes.

A Refund is reserved first (status pending: its amount counts against what may still be refunded,
and a pending ledger transfer holds it), then the provider is called outside any lock, then it is
marked succeeded (the ledger transfer posted) or failed (the transfer voided, the amount free
again). `source` says where the money came from:

    escrow          before release: platform:escrow -> external:<provider>
    seller_balance  after release: seller:<id>:pending -> external:<provider> (may go negative;
                    recovered from later settlements). The platform keeps its fee (Stripe's default).
    hold_release    a card hold never captured: the hold is voided instead, nothing is paid out
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class SealedOrderDocument(models.Model):
    """One per sub-order. `canonical_document` is the exact text (UTF-8 bytes) the seller signs;
    `sealed` is the same bytes sealed (RSA-OAEP-SHA256 + AES-256-GCM, associated data
    "clearhouse:order-document:<sub-order id>") to `seller_key`, for delivery by dashboard,
    API and webhook. Re-sealed in place when a password reset replaces the dashboard key."""

    sub_order = models.OneToOneField(
        "payments.SubOrder", on_delete=models.PROTECT, related_name="sealed_document"
    )
    version = models.PositiveSmallIntegerField(default=1)
    canonical_document = models.TextField()
    sha256 = models.CharField(max_length=64)
    # Null until the seller has an encryption key (own or dashboard) to seal to.
    seller_key = models.ForeignKey(
        "accounts.SellerKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sealed_documents",
    )
    sealed = models.BinaryField(null=True, blank=True)
    sealed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"order document {self.sub_order_id} ({self.sha256[:12]})"

    @property
    def document_bytes(self) -> bytes:
        return self.canonical_document.encode("utf-8")


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RefundSource(models.TextChoices):
    ESCROW = "escrow", "From escrow (before release)"
    SELLER_BALANCE = "seller_balance", "From the seller's balance (after release)"
    HOLD_RELEASE = "hold_release", "Card hold released (never captured)"


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.PROTECT, related_name="refunds"
    )
    sub_order = models.ForeignKey(
        "payments.SubOrder", on_delete=models.PROTECT, related_name="refunds"
    )
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    source = models.CharField(max_length=16, choices=RefundSource.choices)
    reason = models.CharField(max_length=255)
    actor = models.CharField(
        max_length=64, help_text="buyer:<id>, seller:<id>, staff:<id>, system, provider:<name>"
    )
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    provider_reference = models.CharField(max_length=128, blank=True, default="")
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=255, blank=True, default="")
    # Provider calls made for this refund (the task's attempts, the sweeper's re-drives).
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive"),
            models.UniqueConstraint(
                fields=["payment", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="refund_idempotency_key_unique_per_payment",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"], name="refund_pending", condition=Q(status="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"refund {self.amount_minor} {self.currency} ({self.status})"


class DisputeStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class DisputeOutcome(models.TextChoices):
    BUYER = "buyer", "Resolved for the buyer (refunded)"
    SELLER = "seller", "Resolved for the seller (released)"


class Dispute(models.Model):
    sub_order = models.ForeignKey(
        "payments.SubOrder", on_delete=models.PROTECT, related_name="disputes"
    )
    opened_by = models.CharField(max_length=64)
    reason = models.TextField()
    status = models.CharField(
        max_length=16, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    outcome = models.CharField(max_length=16, choices=DisputeOutcome.choices, blank=True)
    resolved_by = models.CharField(max_length=64, blank=True, default="")
    resolution_note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sub_order"],
                condition=Q(status="open"),
                name="dispute_one_open_per_sub_order",
            ),
            models.CheckConstraint(
                condition=Q(status="open", outcome="") | Q(status="resolved") & ~Q(outcome=""),
                name="dispute_outcome_iff_resolved",
            ),
        ]

    def __str__(self) -> str:
        return f"dispute on {self.sub_order_id} ({self.status})"
