"""Reads for the payment side: who may see which payment, a buyer's cards."""

from __future__ import annotations

from django.db.models import QuerySet

from payments.flows.models import Payment
from payments.vault.models import VaultedCard


def is_platform_staff(user) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and (getattr(user, "role", "") == "staff" or user.is_superuser)
    )


def payments_visible_to(user) -> QuerySet[Payment]:
    """A payment is visible to its buyer and to staff. Not to the order's sellers: a payment is
    the whole order's (its total, the card, the bank reference, what was captured for the other
    sellers); a seller follows its own part through its sub-order (seller orders API, webhooks),
    as the orders API shows a seller only its part."""
    payments = Payment.objects.select_related("order")
    if user is None or not user.is_authenticated:
        return payments.none()
    if is_platform_staff(user):
        return payments
    return payments.filter(order__buyer=user)


def payment_get_visible(*, user, payment_id) -> Payment | None:
    return payments_visible_to(user).filter(pk=payment_id).first()


def vaulted_cards_of(user) -> QuerySet[VaultedCard]:
    if user is None or not user.is_authenticated:
        return VaultedCard.objects.none()
    return VaultedCard.objects.filter(owner=user, deleted_at__isnull=True)
