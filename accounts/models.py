"""Users (email login, one role each) and seller profiles with their payout bank account."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
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
        ]

    def __str__(self) -> str:
        return self.email

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
    WEEKLY = "weekly", "Weekly (Mondays)"
    MONTHLY = "monthly", "Monthly (1st)"
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
    minimum_payout_minor = models.BigIntegerField(default=0)
    fee_plan = models.CharField(max_length=32, default="standard")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minimum_payout_minor__gte=0),
                name="seller_minimum_payout_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.legal_name
