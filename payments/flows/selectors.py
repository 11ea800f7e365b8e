"""Reads for the payment side: who may see which payment, a buyer's cards, an order's latest
payment and whether the order page should keep polling for it."""

from __future__ import annotations

from django.db.models import QuerySet

from payments.flows.models import Payment, PaymentStatus
from payments.orders.models import Order, OrderStatus, SubOrder
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


# Order states the status page keeps polling in (something may change by itself any second).
POLLING_ORDER_STATES = {OrderStatus.AWAITING_PAYMENT}


PAYMENT_IN_FLIGHT = {
    PaymentStatus.CREATED,
    PaymentStatus.REQUIRES_ACTION,
    PaymentStatus.AWAITING_TRANSFER,
}


def order_latest_payment(order: Order) -> Payment | None:
    return Payment.objects.filter(order=order).order_by("-created_at").first()


def order_is_live(order: Order, sub_orders: list[SubOrder], payment: Payment | None) -> bool:
    """Whether the status page keeps polling every 2 s: while the payment can still move alone."""
    if order.status in POLLING_ORDER_STATES:
        return True
    return (
        payment is not None
        and payment.status in PAYMENT_IN_FLIGHT
        and order.status
        not in (
            OrderStatus.EXPIRED,
            OrderStatus.CANCELLED,
        )
    )


def order_can_pay_again(order: Order, payment: Payment | None) -> bool:
    """The buyer may try (another) method on this order."""
    if order.status == OrderStatus.PAYMENT_FAILED:
        return True
    if order.status != OrderStatus.AWAITING_PAYMENT:
        return False
    # A payment still in progress (3-D Secure, wallet, transfer) must end first: the payment side
    # allows one active payment per order. It expires by itself if abandoned.
    return payment is None or payment.status in (
        PaymentStatus.FAILED,
        PaymentStatus.EXPIRED,
        PaymentStatus.VOIDED,
    )


def payment_started_by_request(*, order_id, buyer_id: int, request_key: str) -> Payment | None:
    """The payment the request with this Idempotency-Key scope started on the buyer's order (a
    retry's own payment), if any."""
    if not request_key:
        return None
    return (
        Payment.objects.select_related("order", "vaulted_card")
        .filter(order_id=order_id, order__buyer_id=buyer_id, details__request_key=request_key)
        .order_by("-created_at")
        .first()
    )
