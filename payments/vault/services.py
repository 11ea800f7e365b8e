"""The card vault: PANs go in, tokens come out.

Envelope encryption: every card gets a fresh 256-bit data key; the PAN (with the holder's name) is
sealed with AES-256-GCM under that key, and the data key is stored wrapped by the newest master key
of the ring (settings.CLEARHOUSE_MASTER_KEYS). Both seals bind the record's id as associated data,
so ciphertext moved onto another row, or edited in place, is refused. Rotating the master key only
re-wraps the small data keys (`vault_rotate_keys`); the card ciphertext never changes.

Only the token, brand, last4 and expiry leave this module, except through `vault_detokenize`,
which exists for the processor (the sandbox reads the PAN there, as a real processor receives it),
and `card_in_memory`: the same DetokenizedCard for the request that has just sealed the card, so
that its authorisation needs no read-back of the row. The CVC never comes here.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from core import crypto
from core.errors import ApplicationError, NotFound
from core.fast_sql import fetch_all
from payments import conf
from payments.vault.cards import CardInput
from payments.vault.models import VaultedCard

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "tok_"  # noqa: S105 - a prefix, not a secret


class VaultError(ApplicationError):
    """The card could not be read from the vault."""

    code = "vault_error"
    http_status = 500


def _associated_data(card_id: uuid.UUID) -> bytes:
    return b"clearhouse/vault/card/" + str(card_id).encode()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


@dataclass(frozen=True, repr=False)
class DetokenizedCard:
    """What a processor receives: in memory only, masked in repr."""

    number: str = field(repr=False)
    holder: str
    exp_month: int
    exp_year: int
    brand: str
    last4: str

    def __repr__(self) -> str:
        return f"DetokenizedCard(brand={self.brand!r}, last4={self.last4!r})"

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        raise TypeError("DetokenizedCard holds card data and must never be serialised")


@dataclass(frozen=True, repr=False)
class SealedCard:
    """A card encrypted for its vault row (id and token chosen here), not yet stored: the payment
    fast path inserts it in the same statement as the payment."""

    id: uuid.UUID
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    key_id: str
    wrapped_key: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"SealedCard(token={self.token!r}, brand={self.brand!r}, last4={self.last4!r})"

    def row(self, *, owner_id: int | None) -> VaultedCard:
        """The vault row for this card, not saved."""
        return VaultedCard(
            id=self.id,
            token=self.token,
            owner_id=owner_id,
            brand=self.brand,
            last4=self.last4,
            exp_month=self.exp_month,
            exp_year=self.exp_year,
            key_id=self.key_id,
            wrapped_key=self.wrapped_key,
            ciphertext=self.ciphertext,
        )


@sensitive_variables("card")
def card_in_memory(card: CardInput) -> DetokenizedCard:
    """What vault_detokenize returns for the token that vault_seal_card(card=card) issues, built
    from the card in hand: the request that received the card hands this to the processor instead
    of reading back the row it has just written (a SELECT and two AES-GCM opens). vault_seal_card
    seals and stores exactly these fields, so the two cannot differ."""
    return DetokenizedCard(
        number=card.number,
        holder=card.holder,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        brand=card.brand,
        last4=card.last4,
    )


@sensitive_variables("card", "opened", "plaintext", "data_key")
def vault_seal_card(*, card: CardInput) -> SealedCard:
    """Encrypt a card for a new vault row (pure: no database)."""
    opened = card_in_memory(card)  # what vault_detokenize will give back for this row
    card_id = uuid.uuid4()
    associated_data = _associated_data(card_id)
    plaintext = json.dumps({"number": opened.number, "holder": opened.holder}).encode()
    data_key = crypto.new_data_key()
    ciphertext = crypto.aead_encrypt(plaintext, key=data_key, associated_data=associated_data)
    key_id, wrapped_key = crypto.wrap_data_key(data_key, associated_data=associated_data)
    return SealedCard(
        id=card_id,
        token=new_token(),
        brand=opened.brand,
        last4=opened.last4,
        exp_month=opened.exp_month,
        exp_year=opened.exp_year,
        key_id=key_id,
        wrapped_key=wrapped_key,
        ciphertext=ciphertext,
    )


def vault_log_stored(sealed: SealedCard) -> None:
    logger.info("vault: stored card %s (%s ****%s)", sealed.token, sealed.brand, sealed.last4)


@sensitive_variables("card")
def vault_store_card(*, card: CardInput, owner=None) -> VaultedCard:
    """Encrypt and store a card; returns the row (token, brand, last4, expiry are safe to show)."""
    sealed = vault_seal_card(card=card)
    vaulted = sealed.row(
        owner_id=owner.pk if owner is not None and owner.is_authenticated else None
    )
    vaulted.save(force_insert=True)
    vault_log_stored(sealed)
    return vaulted


_FIELDS = [field.attname for field in VaultedCard._meta.concrete_fields]
_BY_TOKEN_SQL = (
    "SELECT " + ", ".join(_FIELDS) + " FROM payments_vaultedcard WHERE token = %s"  # noqa: S608
)


def _vaulted_by_token(token: str) -> VaultedCard | None:
    # Every card authorisation reads one: on PostgreSQL a prepared statement, not a query built.
    if connection.vendor != "postgresql":
        return VaultedCard.objects.filter(token=token).first()
    rows = fetch_all(_BY_TOKEN_SQL, [token])
    return VaultedCard.from_db(connection.alias, _FIELDS, rows[0]) if rows else None


@sensitive_variables("plaintext", "data_key", "payload")
def vault_detokenize(*, token: str) -> DetokenizedCard:
    """The PAN behind a token, for the processor only. Tampered or foreign ciphertext, a wrong key,
    or a deleted card raise VaultError (the reason is logged; no card data is)."""
    vaulted = _vaulted_by_token(token)
    if vaulted is None or vaulted.deleted_at is not None:
        raise VaultError("This card is no longer stored.", code="card_not_in_vault")
    associated_data = _associated_data(vaulted.id)
    try:
        data_key = crypto.unwrap_data_key(
            vaulted.key_id, bytes(vaulted.wrapped_key), associated_data=associated_data
        )
        plaintext = crypto.aead_decrypt(
            bytes(vaulted.ciphertext), key=data_key, associated_data=associated_data
        )
    except crypto.CryptoError as exc:
        logger.error("vault: card %s failed to decrypt: %s", vaulted.token, type(exc).__name__)
        raise VaultError("The stored card could not be read.", code="vault_decrypt_failed") from exc
    payload = json.loads(plaintext)
    return DetokenizedCard(
        number=payload["number"],
        holder=payload.get("holder", ""),
        exp_month=vaulted.exp_month,
        exp_year=vaulted.exp_year,
        brand=vaulted.brand,
        last4=vaulted.last4,
    )


@transaction.atomic
def vault_delete_card(*, token: str, owner) -> None:
    """Erase a buyer's card: ciphertext and wrapped key are overwritten (nothing left to decrypt);
    the row stays so that past payments still show brand and last4."""
    vaulted = (
        VaultedCard.objects.select_for_update()
        .filter(token=token, owner=owner, deleted_at__isnull=True)
        .first()
    )
    if vaulted is None:
        raise NotFound("No such card.", code="card_not_found")
    vaulted.ciphertext = b""
    vaulted.wrapped_key = b""
    vaulted.deleted_at = timezone.now()
    vaulted.save(update_fields=["ciphertext", "wrapped_key", "deleted_at"])
    logger.info("vault: deleted card %s", vaulted.token)


@dataclass
class RotationReport:
    newest_key_id: str
    rotated: int = 0
    already_current: int = 0
    failed: int = 0
    failed_tokens: list[str] = field(default_factory=list)


def _rewrap_one(card_id: uuid.UUID, newest_key_id: str) -> str:
    """Re-wrap one card's data key under the newest master key, in its own short transaction."""
    with transaction.atomic():
        vaulted = VaultedCard.objects.select_for_update().get(id=card_id)
        if vaulted.deleted_at is not None or vaulted.key_id == newest_key_id:
            return "already_current"
        associated_data = _associated_data(vaulted.id)
        data_key = crypto.unwrap_data_key(
            vaulted.key_id, bytes(vaulted.wrapped_key), associated_data=associated_data
        )
        key_id, wrapped_key = crypto.wrap_data_key(data_key, associated_data=associated_data)
        assert key_id == newest_key_id, "wrap_data_key must use the newest master key"
        vaulted.key_id = key_id
        vaulted.wrapped_key = wrapped_key
        vaulted.save(update_fields=["key_id", "wrapped_key"])
        return "rotated"


def vault_rotate_keys(*, batch_size: int | None = None) -> RotationReport:
    """Re-wrap every live data key that is not under the newest master key. Safe while the site
    runs: each card is locked and rewritten in its own transaction, so readers wait at most one
    row's work and new cards (already under the newest key) are skipped. Old master keys must stay
    in the ring until this reports failed == 0."""
    batch_size = batch_size or int(conf.get("PAYMENTS_BATCH_SIZE"))
    newest_key_id = crypto.get_key_ring().newest_id
    report = RotationReport(newest_key_id=newest_key_id)
    report.already_current = VaultedCard.objects.filter(
        deleted_at__isnull=True, key_id=newest_key_id
    ).count()
    last_id = None
    # Keyset pagination over ids: each card is visited once, so the loop ends.
    while True:
        batch = VaultedCard.objects.filter(deleted_at__isnull=True).exclude(key_id=newest_key_id)
        if last_id is not None:
            batch = batch.filter(id__gt=last_id)
        ids = list(batch.order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            break
        for card_id in ids:
            try:
                outcome = _rewrap_one(card_id, newest_key_id)
            except crypto.CryptoError as exc:
                report.failed += 1
                token = VaultedCard.objects.filter(id=card_id).values_list("token", flat=True)
                report.failed_tokens.append(token.first() or str(card_id))
                logger.error("vault: could not re-wrap card %s: %s", card_id, type(exc).__name__)
                continue
            if outcome == "rotated":
                report.rotated += 1
            else:
                report.already_current += 1
        last_id = ids[-1]
    logger.info(
        "vault: rotation to %s: %d re-wrapped, %d already current, %d failed",
        newest_key_id,
        report.rotated,
        report.already_current,
        report.failed,
    )
    return report
