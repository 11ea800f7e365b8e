"""Writes for accounts: sign-up, seller profile, seller keys, API keys.

Services validate everything themselves (forms and serializers only collect input), run under
transaction.atomic and change nothing when they raise.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import key_listeners
from accounts.errors import ApiKeyInvalid, ApiKeyRevoked, NotASeller
from accounts.models import (
    ApiKey,
    KeyOrigin,
    KeyPurpose,
    Role,
    SellerKey,
    SellerProfile,
    User,
)
from accounts.selectors import seller_active_keys
from accounts.validation import clean_seller_profile
from core import crypto
from core.errors import ValidationError

logger = logging.getLogger(__name__)

# --- Users -------------------------------------------------------------------------------------

SIGN_UP_ROLES = (Role.BUYER, Role.SELLER)  # staff accounts are made by staff, never by sign-up


def email_is_taken(email: str) -> bool:
    return User.objects.filter(email__iexact=email.strip()).exists()


def user_sign_up(
    *,
    email: str,
    password: str,
    role: str,
    display_name: str = "",
    seller_profile: Mapping[str, Any] | None = None,
) -> User:
    """Create a buyer or a seller (with the identity part of its profile). Raises django
    ValidationError naming each field at fault; creates nothing then."""
    errors: dict[str, list[str]] = {}
    email = User.objects.normalize_email((email or "").strip()).lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        errors["email"] = ["Enter a valid email address."]
    else:
        if email_is_taken(email):
            errors["email"] = ["An account with this email address already exists."]
    if role not in SIGN_UP_ROLES:
        errors["role"] = ["Choose buyer or seller."]
    display_name = (display_name or "").strip()
    candidate = User(email=email, display_name=display_name, role=role)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        errors["password1"] = list(exc.messages)
    profile_values: dict[str, Any] | None = None
    if role == Role.SELLER:
        try:
            profile_values = clean_seller_profile(seller_profile or {})
        except DjangoValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise DjangoValidationError(errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email, password, role=role, display_name=display_name)
            if profile_values is not None:
                SellerProfile.objects.create(user=user, **profile_values)
    except IntegrityError as exc:
        # Two sign-ups with one address at once: the unique constraint decides.
        raise DjangoValidationError(
            {"email": ["An account with this email address already exists."]}
        ) from exc
    if user.role == Role.SELLER:
        # The password is known only now (and at login): lock the dashboard keys with it.
        from accounts.dashboard_keys import dashboard_keys_ensure

        try:
            dashboard_keys_ensure(seller=user, password=password)
        except Exception:  # the next login makes them; sign-up itself succeeded
            logger.exception("dashboard keys not created at sign-up", extra={"seller_id": user.pk})
    return user


# --- Seller profile ----------------------------------------------------------------------------


def _require_seller(user: User) -> None:
    if user.role != Role.SELLER:
        raise NotASeller()


def seller_profile_save(
    *, seller: User, data: Mapping[str, Any], require_bank_account: bool = False
) -> SellerProfile:
    """Create or update the seller's profile from `data` (any of validation.PROFILE_FIELDS; a
    partial update keeps the other fields) after validating it whole. Raises django
    ValidationError per field; nothing is saved then."""
    _require_seller(seller)
    with transaction.atomic():
        locked = SellerProfile.objects.select_for_update().filter(user=seller).first()
        cleaned = clean_seller_profile(
            data, previous=locked, require_bank_account=require_bank_account
        )
        if locked is None:
            profile = SellerProfile.objects.create(user=seller, **cleaned)
            logger.info("seller profile created", extra={"seller_id": seller.pk})
            return profile
        changed = [name for name, value in cleaned.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, cleaned[name])
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
            logger.info(
                "seller profile updated",
                extra={"seller_id": seller.pk, "fields": sorted(changed)},
            )
    return locked


# --- Seller keys -------------------------------------------------------------------------------

SIGNING_ALGORITHMS = {"ed25519": "Ed25519", "rsa-pss-sha256": "RSA-PSS-SHA256 (3072-bit)"}
MAX_PEM_CHARS = 16_000  # a 16384-bit RSA public key is ~2,900 characters
MAX_ACTIVE_KEYS_PER_PURPOSE = 10


def _check_purpose(purpose: str) -> None:
    if purpose not in KeyPurpose.values:
        raise ValidationError("Choose signing or encryption.", field="purpose")


def _check_label(label: str) -> str:
    label = (label or "").strip()
    if len(label) > 100:
        raise ValidationError("Use at most 100 characters.", field="label")
    return label


def _check_room(seller: User, purpose: str) -> None:
    if seller_active_keys(seller=seller, purpose=purpose).count() >= MAX_ACTIVE_KEYS_PER_PURPOSE:
        raise ValidationError(
            f"You have {MAX_ACTIVE_KEYS_PER_PURPOSE} active {purpose} keys: revoke one first.",
            field="purpose",
        )


def _register_key(
    *, seller: User, purpose: str, info: crypto.PublicKeyInfo, label: str, origin: str
) -> SellerKey:
    if SellerKey.objects.filter(fingerprint=info.fingerprint).exists():
        raise ValidationError(
            "This key is already registered (a revoked key cannot be registered again).",
            field="public_pem",
        )
    try:
        with transaction.atomic():
            key = SellerKey.objects.create(
                seller=seller,
                purpose=purpose,
                algorithm=info.algorithm,
                size_bits=info.size_bits,
                public_pem=info.public_pem,
                fingerprint=info.fingerprint,
                label=label,
                origin=origin,
            )
    except IntegrityError as exc:
        raise ValidationError("This key is already registered.", field="public_pem") from exc
    if purpose == KeyPurpose.ENCRYPTION:
        # Order documents waiting for this seller's key are sealed once it commits (payments).
        key_listeners.encryption_key_registered(seller.pk)
    logger.info(
        "seller key registered",
        extra={"seller_id": seller.pk, "key_id": str(key.id), "purpose": purpose},
    )
    return key


def seller_key_upload(*, seller: User, purpose: str, public_pem: str, label: str = "") -> SellerKey:
    """Register a seller's own public key after core.crypto has checked its type and size."""
    _require_seller(seller)
    _check_purpose(purpose)
    label = _check_label(label)
    text = (public_pem or "").strip()
    if not text:
        raise ValidationError("Paste the public key in PEM format.", field="public_pem")
    if len(text) > MAX_PEM_CHARS:
        raise ValidationError("This is too long to be a public key.", field="public_pem")
    if "PRIVATE KEY" in text:
        # Never parse (let alone keep) a private key someone pasted by mistake.
        raise ValidationError(
            "This is a PRIVATE key: never share it. Paste the PUBLIC key "
            "(-----BEGIN PUBLIC KEY-----) instead.",
            field="public_pem",
        )
    try:
        info = crypto.inspect_public_key(text, purpose=purpose)
    except (crypto.CryptoError, ValueError, TypeError) as exc:
        raise ValidationError(f"Not usable as a {purpose} key: {exc}.", field="public_pem") from exc
    _check_room(seller, purpose)
    return _register_key(
        seller=seller, purpose=purpose, info=info, label=label, origin=KeyOrigin.UPLOADED
    )


def seller_key_generate(
    *, seller: User, purpose: str, algorithm: str = "ed25519", label: str = ""
) -> tuple[SellerKey, str]:
    """Make a key pair, register its public half and return (key, private_pem). The private PEM is
    handed to the caller to give to the seller once; it is never stored or logged."""
    _require_seller(seller)
    _check_purpose(purpose)
    label = _check_label(label)
    if purpose == KeyPurpose.SIGNING and algorithm not in SIGNING_ALGORITHMS:
        raise ValidationError(
            "Choose ed25519 or rsa-pss-sha256 for a signing key.", field="algorithm"
        )
    _check_room(seller, purpose)
    # Key generation (RSA-3072 takes a moment) happens outside any transaction.
    if purpose == KeyPurpose.SIGNING:
        private_pem, public_pem = crypto.generate_signing_key(algorithm)
    else:
        private_pem, public_pem = crypto.generate_encryption_key()
    info = crypto.inspect_public_key(public_pem, purpose=purpose)
    key = _register_key(
        seller=seller, purpose=purpose, info=info, label=label, origin=KeyOrigin.GENERATED
    )
    return key, private_pem


def seller_key_revoke(*, key: SellerKey) -> SellerKey:
    """Revoke a key (idempotent: revoking a revoked key changes nothing). The row stays so that
    signatures made before the revocation can still be checked."""
    with transaction.atomic():
        locked = SellerKey.objects.select_for_update().get(pk=key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            logger.info(
                "seller key revoked",
                extra={"seller_id": locked.seller_id, "key_id": str(locked.id)},
            )
    return locked


# --- API keys ----------------------------------------------------------------------------------

API_KEY_PREFIX = "ch_live_"
_LOOKUP_CHARS = 8
_SECRET_CHARS = 40  # 40 base62 characters: about 238 bits
_ALPHABET = string.ascii_letters + string.digits
_API_KEY_FORMAT = re.compile(
    rf"({re.escape(API_KEY_PREFIX)}[A-Za-z0-9]{{{_LOOKUP_CHARS}}})_[A-Za-z0-9]{{{_SECRET_CHARS}}}"
)
MAX_ACTIVE_API_KEYS = 25
# last_used_at is written at most this often per key, so reads do not all become writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _random_text(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def api_key_hash(full_key: str) -> str:
    """SHA-256 of the whole key. The secret has ~238 bits of entropy: no slow hash is needed."""
    return crypto.sha256(full_key.encode("ascii")).hex()


def api_key_create(*, owner: User, name: str) -> tuple[ApiKey, str]:
    """Create an API key; return (row, full key). The full key is shown once and not stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("Give the key a name, e.g. where it is used.", field="name")
    if len(name) > 100:
        raise ValidationError("Use at most 100 characters.", field="name")
    if not owner.is_active:
        raise ValidationError("This account is disabled.")
    if ApiKey.objects.filter(owner=owner, revoked_at__isnull=True).count() >= MAX_ACTIVE_API_KEYS:
        raise ValidationError(
            f"You have {MAX_ACTIVE_API_KEYS} active API keys: revoke one first.", field="name"
        )
    for _attempt in range(3):  # a prefix collision (1 in 2e14) gets a fresh draw, a few times
        prefix = API_KEY_PREFIX + _random_text(_LOOKUP_CHARS)
        full_key = f"{prefix}_{_random_text(_SECRET_CHARS)}"
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    owner=owner, name=name, prefix=prefix, secret_hash=api_key_hash(full_key)
                )
        except IntegrityError:
            continue
        logger.info("api key created", extra={"owner_id": owner.pk, "prefix": prefix})
        return api_key, full_key
    raise RuntimeError("could not draw a unique API key prefix")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke (idempotent). A revoked key authenticates nothing from the next request on."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            logger.info(
                "api key revoked", extra={"owner_id": locked.owner_id, "prefix": locked.prefix}
            )
    return locked


def api_key_authenticate(raw_key: str) -> ApiKey:
    """The active key matching `raw_key`, with its owner loaded. Raises ApiKeyInvalid or
    ApiKeyRevoked. The secret is compared in constant time."""
    match = _API_KEY_FORMAT.fullmatch(raw_key or "")
    if match is None:
        raise ApiKeyInvalid()
    api_key = ApiKey.objects.select_related("owner").filter(prefix=match.group(1)).first()
    if api_key is None or not crypto.constant_time_equal(
        api_key.secret_hash, api_key_hash(raw_key)
    ):
        raise ApiKeyInvalid()
    if api_key.revoked_at is not None:
        raise ApiKeyRevoked()
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        # One conditional UPDATE, no lock: concurrent requests may both write, harmlessly.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
