"""Issued receipts (imported by settlement/models.py so that Django registers them)."""

from __future__ import annotations

import uuid

from django.db import models

__all__ = ["Receipt", "ReceiptStatus"]


class ReceiptStatus(models.TextChoices):
    # The confirmation record is still open (acknowledgements pending or absent).
    PROVISIONAL = "provisional", "Provisional"
    FINAL = "final", "Final"


class Receipt(models.Model):
    """One issued receipt of a sub-order: the exact canonical bytes the platform signed and put in
    the ledger's log (a record of kind "receipt" with this id). Never changed: when the facts
    change, the next receipt of the sub-order names this one in its `supersedes`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sub_order = models.ForeignKey(
        "payments.SubOrder", on_delete=models.PROTECT, related_name="receipts"
    )
    sequence = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=ReceiptStatus.choices)
    # SHA-256 of the receipt without its issue fields: the same facts give back this receipt.
    content_sha256 = models.CharField(max_length=64)
    body = models.BinaryField(help_text="canonical JSON, exactly as signed and logged")
    sha256 = models.CharField(max_length=64, help_text="of body")
    key_id = models.CharField(max_length=64)
    signature = models.BinaryField()
    issued_at = models.DateTimeField()

    class Meta:
        ordering = ["sub_order", "-sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["sub_order", "sequence"], name="receipt_one_per_sequence"
            ),
            models.CheckConstraint(
                condition=models.Q(sequence__gte=1), name="receipt_sequence_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"receipt {self.sub_order_id}#{self.sequence} ({self.status})"
