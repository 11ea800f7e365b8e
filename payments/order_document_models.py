"""The order document a seller signs: canonical JSON the platform made, and its sealed copy."""

from __future__ import annotations

from django.db import models

__all__ = ["SealedOrderDocument"]


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
