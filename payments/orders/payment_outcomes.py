"""What a payment's outcome does to its order (called by the payment side): paid, failed, reopened
for another attempt, a longer payment window for a slow method.

Lock order: CheckoutSession -> Order -> Product (ascending id).
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import DatabaseError, transaction
from django.utils import timezone

from core.fast_sql import fetch_all
from payments import conf
from payments.orders.errors import OrderNotPayable
from payments.orders.events import dispatch_after_commit
from payments.orders.models import Order, OrderLine, OrderStatus
from payments.orders.refusals import REFUSAL_SQLSTATE, refusal_error
from payments.orders.services import lock_order, payment_window, sync_order
from payments.orders.stock import release_stock_locked, reserve_stock_locked


def order_mark_paid(*, order: Order) -> None:
    """Order PAID, sub-orders AWAITING_ACCEPTANCE (each with its acceptance window and order.paid
    event), its checkout session (if any) complete: payments_order_mark_paid, the one
    implementation (a payment's authorisation does it in the same statement).

    Idempotent. If the order had released its stock (payment failed or order expired) while a
    payment was still in flight, the units are reserved again; if they are gone, OutOfStock or
    OrderNotPayable is raised and nothing changes, so the payment side can void the payment.
    """
    now = timezone.now()
    accept_by = now + conf.acceptance_window()
    try:
        with transaction.atomic():
            event_ids = fetch_all(
                "SELECT payments_order_mark_paid(%s::uuid, %s::timestamptz, %s::timestamptz, "
                "%s::text)",
                [order.pk, now, accept_by, accept_by.isoformat()],
            )[0][0]
    except DatabaseError as exc:
        cause = exc.__cause__
        if getattr(cause, "sqlstate", None) != REFUSAL_SQLSTATE:
            raise
        detail = json.loads(cause.diag.message_detail or "{}")
        raise refusal_error(cause.diag.message_primary, detail) from None
    dispatch_after_commit(list(event_ids))
    sync_order(order, Order.objects.get(pk=order.pk))


@transaction.atomic
def order_mark_payment_failed(*, order: Order, reason: str) -> None:
    """An unpaid order's payment failed: PAYMENT_FAILED, stock released. Idempotent; a no-op for
    an order already paid (another payment succeeded), expired or cancelled."""
    locked = lock_order(order.pk)
    if locked.status != OrderStatus.AWAITING_PAYMENT:
        sync_order(order, locked)
        return
    release_stock_locked(locked)
    locked.status = OrderStatus.PAYMENT_FAILED
    locked.payment_failure_reason = (reason or "The payment did not go through.")[:255]
    locked.save(update_fields=["status", "payment_failure_reason", "updated_at"])
    sync_order(order, locked)


@transaction.atomic
def order_reopen_for_payment(*, order: Order) -> Order:
    """Before another payment attempt on the same order: reserve the stock again if it was
    released and put the order back to AWAITING_PAYMENT with a fresh payment window."""
    locked = lock_order(order.pk)
    if locked.status not in (OrderStatus.AWAITING_PAYMENT, OrderStatus.PAYMENT_FAILED):
        raise OrderNotPayable(
            f"Order {locked.number} is {locked.get_status_display().lower()} and cannot be paid."
        )
    if locked.expires_at and locked.expires_at <= timezone.now():
        raise OrderNotPayable(f"Order {locked.number} has expired.")
    has_products = OrderLine.objects.filter(sub_order__order=locked, product__isnull=False).exists()
    if locked.status == OrderStatus.AWAITING_PAYMENT and (
        locked.stock_reserved or not has_products
    ):
        sync_order(order, locked)
        return locked
    if has_products:
        reserve_stock_locked(locked)
    locked.status = OrderStatus.AWAITING_PAYMENT
    locked.expires_at = max(locked.expires_at or timezone.now(), timezone.now() + payment_window())
    locked.save(update_fields=["status", "expires_at", "updated_at"])
    sync_order(order, locked)
    return locked


@transaction.atomic
def order_extend_payment_window(*, order: Order, until: datetime) -> None:
    """A slow method (bank transfer) keeps the stock until its own deadline."""
    locked = lock_order(order.pk)
    if locked.status == OrderStatus.AWAITING_PAYMENT and (
        locked.expires_at is None or locked.expires_at < until
    ):
        locked.expires_at = until
        locked.save(update_fields=["expires_at", "updated_at"])
    sync_order(order, locked)
