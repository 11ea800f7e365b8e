"""The records the in-process sandbox processors keep on their side of the (simulated) network.

A real processor keeps these on its own servers; the sandboxes keep them here so that web and
worker processes share them. Nothing on the platform side reads them directly.
"""

from __future__ import annotations

from django.db import models


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

    def __str__(self) -> str:
        return f"sandbox charge {self.reference} ({self.status})"


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

    def __str__(self) -> str:
        return f"{self.provider} trade {self.trade_no} ({self.status})"


class SandboxWalletNotice(models.Model):
    """A notification the sandbox wallet owes the platform, delivered (and retried) by a task."""

    trade = models.ForeignKey(SandboxWalletTrade, on_delete=models.CASCADE, related_name="notices")
    notify_id = models.CharField(max_length=64, unique=True)
    params = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"notice {self.notify_id}"


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

    def __str__(self) -> str:
        return f"{self.processor} {self.kind} {self.reference}"
