"""Reads for the payment side: who may see which payment, a buyer's cards."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from payments.models import Payment, SubOrder
from payments.payment_models import VaultedCard


def is_platform_staff(user) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and (getattr(user, "role", "") == "staff" or user.is_superuser)
    )


def payments_visible_to(user) -> QuerySet[Payment]:
    """A payment is visible to its buyer, to the sellers of its order, and to staff."""
    payments = Payment.objects.select_related("order")
    if user is None or not user.is_authenticated:
        return payments.none()
    if is_platform_staff(user):
        return payments
    sells = SubOrder.objects.filter(order_id=OuterRef("order_id"), seller=user)
    return payments.filter(Q(order__buyer=user) | Exists(sells))


def payment_get_visible(*, user, payment_id) -> Payment | None:
    return payments_visible_to(user).filter(pk=payment_id).first()


def vaulted_cards_of(user) -> QuerySet[VaultedCard]:
    if user is None or not user.is_authenticated:
        return VaultedCard.objects.none()
    return VaultedCard.objects.filter(owner=user, deleted_at__isnull=True)
