"""Reads for accounts. Each object is visible to its owner; staff see all."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiKey, SellerKey, SellerProfile, User


def _is_staff(user: User) -> bool:
    # AnonymousUser has no is_platform_staff.
    return getattr(user, "is_platform_staff", False)


def seller_keys_visible_to(user: User) -> QuerySet[SellerKey]:
    keys = SellerKey.objects.select_related("seller")
    return keys if _is_staff(user) else keys.filter(seller=user)


def api_keys_visible_to(user: User) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.select_related("owner")
    return keys if _is_staff(user) else keys.filter(owner=user)


def seller_profiles_visible_to(user: User) -> QuerySet[SellerProfile]:
    profiles = SellerProfile.objects.select_related("user")
    return profiles if _is_staff(user) else profiles.filter(user=user)


def seller_profile_of(user: User) -> SellerProfile | None:
    return SellerProfile.objects.filter(user=user).first()


def seller_active_keys(*, seller: User, purpose: str) -> QuerySet[SellerKey]:
    """All of the seller's active keys for `purpose`, newest first (any may verify a signature)."""
    return SellerKey.objects.filter(
        seller=seller, purpose=purpose, revoked_at__isnull=True
    ).order_by("-created_at")


def seller_active_key(*, seller: User, purpose: str) -> SellerKey | None:
    """The seller's newest active key for `purpose`."""
    return seller_active_keys(seller=seller, purpose=purpose).first()
