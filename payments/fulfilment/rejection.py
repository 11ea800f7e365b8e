"""A seller rejects a paid sub-order, or lets its acceptance window lapse (the
payments.expire_acceptance beat task): the sub-order is closed (order.rejected / order.acceptance_expired), its money
released (or refunded, when it was captured already) and its stock returned.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, ValidationError
from payments.flows.sub_order_money import paid_payment_of
from payments.fulfilment.acceptance import (
    LAPSED_REASON,
    MAX_REASON_CHARS,
    SO,
    check_open,
    document_of,
    lock_chain,
    settle,
    sub_order_get_for_seller,
)
from payments.fulfilment.refunds import refund_sub_order_remaining
from payments.orders.events import ORDER_ACCEPTANCE_EXPIRED, ORDER_REJECTED
from payments.orders.models import Order, OrderStatus, SubOrder
from payments.orders.stock import sub_order_restock_locked
from payments.orders.sub_order_state import sub_order_transition
from payments.providers.base import ProviderError

logger = logging.getLogger(__name__)


def _close(
    sub_order: SubOrder, *, event: str, reason: str, actor: str, only_if_due: bool = False
) -> SubOrder | None:
    """Reject under the locks, restock, cancel the order if no seller is left; then move money."""
    with transaction.atomic():
        locked = lock_chain(sub_order)
        if only_if_due and (
            locked.status != SO.AWAITING_ACCEPTANCE
            or locked.accept_by is None
            or locked.accept_by > timezone.now()
        ):
            return None  # accepted or rejected meanwhile: nothing to do
        if not only_if_due:
            check_open(locked)
        closed = sub_order_transition(
            sub_order_id=locked.pk,
            to_status=SO.REJECTED,
            actor=actor,
            event=event,
            fields={"rejected_at": timezone.now(), "rejection_reason": reason[:MAX_REASON_CHARS]},
            data={"reason": reason[:MAX_REASON_CHARS], "amount_minor": locked.amount_minor},
        )
        sub_order_restock_locked(closed)
        order = Order.objects.get(pk=closed.order_id)
        if not order.sub_orders.exclude(status__in=[SO.REJECTED, SO.CANCELLED]).exists():
            order.status = OrderStatus.CANCELLED
            order.stock_reserved = False
            order.save(update_fields=["status", "stock_reserved", "updated_at"])
    payment = paid_payment_of(closed.order_id)
    if closed.captured_minor > 0:
        _refund_captured(closed, reason=reason, actor=actor)
    elif payment is not None:
        settle(closed.pk, capture=False, actor=actor)
    closed.refresh_from_db()
    return closed


def _refund_captured(sub_order: SubOrder, *, reason: str, actor: str) -> None:
    """The money was already taken (bank transfer): give it back through the refund service."""
    try:
        refund_sub_order_remaining(sub_order_id=sub_order.pk, reason=reason, actor=actor)
    except (ApplicationError, ProviderError) as exc:
        logger.error("sub-order %s: refund after rejection failed: %s", sub_order.pk, exc)


def sub_order_reject(*, sub_order_id: Any, seller: Any, reason: str, actor: str) -> SubOrder:
    """The seller declines: order.rejected; the buyer's money is released or refunded and the
    sub-order's units go back to stock."""
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise ValidationError("Tell the buyer why you reject the order.", field="reason")
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError(f"At most {MAX_REASON_CHARS} characters.", field="reason")
    sub_order = sub_order_get_for_seller(seller=seller, sub_order_id=sub_order_id)
    check_open(sub_order)
    document_of(sub_order)
    return _close(sub_order, event=ORDER_REJECTED, reason=reason, actor=actor)


def acceptance_expire_due(*, now: Any = None, limit: int = 200) -> int:
    """Beat: release sub-orders whose acceptance window lapsed (order.acceptance_expired). One
    transaction per sub-order, re-checked under its lock; bounded per run. Returns how many."""
    now = now or timezone.now()
    due = list(
        SubOrder.objects.filter(status=SO.AWAITING_ACCEPTANCE, accept_by__lte=now).order_by(
            "accept_by", "id"
        )[:limit]
    )
    expired = 0
    for sub_order in due:  # _close re-reads each under its locks
        try:
            if _close(
                sub_order,
                event=ORDER_ACCEPTANCE_EXPIRED,
                reason=LAPSED_REASON,
                actor="system",
                only_if_due=True,
            ):
                expired += 1
        except ApplicationError as exc:  # one bad row must not stop the batch
            logger.error("sub-order %s: acceptance expiry failed: %s", sub_order.pk, exc)
    return expired
