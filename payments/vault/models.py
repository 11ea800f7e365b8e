"""The card vault's one table."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


def token_end(token: str) -> str:
    """A vault token as pages show it, "…abcd": its end tells two cards apart; the vault admin
    lists the whole token, for support lookups."""
    return "…" + token[-4:]


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
        return f"{self.brand} ****{self.last4} ({token_end(self.token)})"
