"""Users (email login, one role each) and seller profiles with their payout bank account."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class Role(models.TextChoices):
    BUYER = "buyer", "Buyer"
    SELLER = "seller", "Seller"
    STAFF = "staff", "Staff"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(role=Role.STAFF, is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.BUYER)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May log in to Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            # Admin access is a staff privilege: no buyer or seller may hold it.
            models.CheckConstraint(
                condition=models.Q(is_staff=False) | models.Q(role="staff"),
                name="user_is_staff_only_for_staff_role",
            ),
            # Emails are stored lower-cased by the manager; this catches any other path.
            models.UniqueConstraint(Lower("email"), name="user_email_unique_case_insensitive"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    @property
    def is_buyer(self) -> bool:
        return self.role == Role.BUYER

    @property
    def is_seller(self) -> bool:
        return self.role == Role.SELLER

    @property
    def is_platform_staff(self) -> bool:
        return self.role == Role.STAFF


class SettlementSchedule(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly (on the payout weekday)"
    MONTHLY = "monthly", "Monthly (on the payout day of the month)"
    MANUAL = "manual", "Manual"


class SellerProfile(models.Model):
    """A seller's business identity and where its money goes. Bank details are validated in forms
    and services (schwifty for IBAN/BIC); `clean()` repeats the checks so no path can skip them."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="seller_profile")
    legal_name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    default_currency = models.CharField(max_length=3, help_text="ISO 4217")
    settlement_currency = models.CharField(max_length=3, help_text="ISO 4217")
    # Payout bank account: IBAN + BIC where the country uses IBAN; account + routing otherwise.
    bank_account_holder = models.CharField(max_length=200, blank=True)
    iban = models.CharField(max_length=34, blank=True)
    bic = models.CharField(max_length=11, blank=True)
    account_number = models.CharField(max_length=34, blank=True)
    routing_number = models.CharField(max_length=20, blank=True)
    settlement_schedule = models.CharField(
        max_length=16, choices=SettlementSchedule.choices, default=SettlementSchedule.DAILY
    )
    # Weekly: ISO weekday (1 = Monday ... 7 = Sunday). Monthly: day 1-31; in a shorter month the
    # last day stands in (31 pays on 30 April and 28/29 February).
    payout_weekday = models.PositiveSmallIntegerField(default=1)
    payout_monthday = models.PositiveSmallIntegerField(default=1)
    # In the settlement currency: below it the money waits for the next period.
    minimum_payout_minor = models.BigIntegerField(default=0)
    # Money from sales in another currency is converted into the settlement currency before it
    # is paid (settlement/fx.py), unless this is set: then each sale currency is paid in its own
    # batches, in that currency, to the bank account on file. The platform cannot tell which
    # currencies an account takes: setting this is the seller's word that it takes the currencies
    # the seller sells in (a multi-currency account), and it needs an account on file.
    paid_in_sale_currency = models.BooleanField(
        default=False,
        help_text="Pay sales in other currencies in their own currency, not converted.",
    )
    fee_plan = models.CharField(max_length=32, default="standard")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minimum_payout_minor__gte=0),
                name="seller_minimum_payout_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(payout_weekday__gte=1, payout_weekday__lte=7),
                name="seller_payout_weekday_exists",
            ),
            models.CheckConstraint(
                condition=models.Q(payout_monthday__gte=1, payout_monthday__lte=31),
                name="seller_payout_monthday_exists",
            ),
        ]

    def __str__(self) -> str:
        return self.legal_name

    def clean(self) -> None:
        # The one validation of profile fields (also used by the form, the API and admin).
        from accounts.validation import validate_seller_profile_model

        validate_seller_profile_model(self)

    @property
    def has_payout_account(self) -> bool:
        """True once a complete bank account is on file; payouts wait until then."""
        return bool((self.iban and self.bic) or (self.account_number and self.routing_number))


class KeyPurpose(models.TextChoices):
    SIGNING = "signing", "Signing"
    ENCRYPTION = "encryption", "Encryption"


class KeyOrigin(models.TextChoices):
    GENERATED = "generated", "Generated by the platform (private half downloaded once)"
    UPLOADED = "uploaded", "Uploaded public key"
    # The seller's dashboard keys: the private half is kept encrypted under a key derived from the
    # seller's password (PlatformHeldKeyMaterial), so it is usable only when the seller types it.
    PLATFORM_HELD = "platform_held", "Dashboard key (private half locked by your password)"


class SellerKey(models.Model):
    """A seller's public key. The platform never keeps the private half (demo data aside, see
    DemoKeyMaterial). A revoked key stays on file so old signatures can still be checked."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    seller = models.ForeignKey(User, on_delete=models.PROTECT, related_name="seller_keys")
    purpose = models.CharField(max_length=16, choices=KeyPurpose.choices)
    # As named by core.crypto: "ed25519", "rsa-pss-sha256" (signing), "rsa-oaep-sha256" (encryption).
    algorithm = models.CharField(max_length=32)
    size_bits = models.PositiveIntegerField()
    public_pem = models.TextField()
    # Hex SHA-256 of the DER public key. Unique across the platform: one key, one owner, and a
    # revoked key cannot be registered again.
    fingerprint = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=100, blank=True)
    origin = models.CharField(max_length=16, choices=KeyOrigin.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["seller", "purpose", "revoked_at"], name="sellerkey_active_lookup")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(purpose__in=["signing", "encryption"]),
                name="sellerkey_purpose_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} key {self.id} ({self.algorithm})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class DemoKeyMaterial(models.Model):
    """The private half of a DEMO seller's key, made by `seed_demo` only, so the demo can act as
    its sellers (sign acceptances, open sealed order facts). Encrypted with AES-256-GCM under a
    data key wrapped by the master key ring. Real sellers' private keys are never stored."""

    seller_key = models.OneToOneField(
        SellerKey, on_delete=models.CASCADE, primary_key=True, related_name="demo_material"
    )
    master_key_id = models.CharField(max_length=64)
    wrapped_data_key = models.BinaryField()
    private_pem_encrypted = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"demo key material of key {self.seller_key_id}"


class PlatformHeldKeyMaterial(models.Model):
    """The private half of a seller's dashboard key, AES-256-GCM encrypted under
    scrypt(password, salt); the associated data binds it to the SellerKey id. Without the seller's
    password the platform cannot sign or open anything with it."""

    seller_key = models.OneToOneField(
        SellerKey, on_delete=models.CASCADE, primary_key=True, related_name="held_material"
    )
    salt = models.BinaryField()
    private_pem_encrypted = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"platform-held key material of key {self.seller_key_id}"


class ApiKey(models.Model):
    """An API key: `ch_live_<8 lookup chars>_<40 secret chars>`. Only the prefix (for lookup and
    display) and the SHA-256 of the whole key are stored; the key is shown once at creation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=32, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
