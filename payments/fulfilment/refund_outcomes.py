"""A reserved refund's provider call and its outcome: succeeded (the ledger transfer posted) or
failed (the transfer voided, the amount free again); the sweeper re-drives refunds left pending.

The provider is called with no lock held; the outcome is applied under the Refund's row lock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import NotFound
from ledger.services import create_transfers
from payments.flows.models import Payment
from payments.fulfilment.models import Refund, RefundStatus
from payments.fulfilment.refunds import SO, event_data, refund_transfer, refunded_minor
from payments.orders.events import REFUND_FAILED, REFUND_SUCCEEDED, record_order_event
from payments.orders.models import Order, SubOrder
from payments.orders.sub_order_state import can_transition, lock_sub_order, sub_order_transition
from payments.providers.base import ProviderError, ProviderUnavailable
from payments.providers.registry import get_provider

logger = logging.getLogger(__name__)


def refund_process(*, refund_id: Any) -> Refund:
    """Call the provider for a pending refund (no lock held) and apply its answer. Raises
    ProviderUnavailable (after counting the attempt) so the task retries later."""
    refund = Refund.objects.select_related("payment").filter(pk=refund_id).first()
    if refund is None:
        raise NotFound("No such refund.", code="refund_not_found")
    if refund.status != RefundStatus.PENDING:
        return refund
    payment = refund.payment
    Refund.objects.filter(pk=refund.pk).update(attempts=F("attempts") + 1)
    provider = get_provider(payment.provider)
    try:
        result = provider.refund(
            reference=payment.provider_reference or payment.bank_reference or "",
            amount_minor=refund.amount_minor,
            idempotency_key=f"refund:{refund.pk}",
        )
    except ProviderUnavailable:
        raise
    except ProviderError as exc:
        return refund_mark_failed(refund_id=refund.pk, code=exc.code, message=exc.message)
    if result.status == "failed":
        return refund_mark_failed(
            refund_id=refund.pk, code=result.failure_code or "refund_failed", message=""
        )
    reference = str(result.raw.get("refund_reference") or result.reference or "")
    return refund_mark_succeeded(refund_id=refund.pk, provider_reference=reference)


def _close_reservation(
    refund_id: Any, *, step: str, kind: str, reason: str
) -> tuple[Payment, Refund, SubOrder | None]:
    """In the caller's transaction, lock Payment -> Order -> Refund -> SubOrder and post or
    void the refund's reserved transfer. The sub-order is None (nothing written) when the refund
    is no longer pending: settled meanwhile by another worker."""
    payment_id = Refund.objects.filter(pk=refund_id).values_list("payment_id", flat=True).first()
    if payment_id is None:
        raise NotFound("No such refund.", code="refund_not_found")
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    # The order before the refund: the sub-order's transition to refunded may complete it.
    Order.objects.select_for_update().filter(pk=payment.order_id).first()
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return payment, refund, None
    sub_order = lock_sub_order(refund.sub_order_id)
    create_transfers(
        [refund_transfer(refund, sub_order, payment, step=step, kind=kind, reason=reason)]
    )
    return payment, refund, sub_order


def refund_mark_succeeded(*, refund_id: Any, provider_reference: str = "") -> Refund:
    with transaction.atomic():
        _payment, refund, sub_order = _close_reservation(
            refund_id, step="post", kind="post_pending", reason="refund_paid"
        )
        if sub_order is None:
            return refund
        refund.status = RefundStatus.SUCCEEDED
        refund.provider_reference = provider_reference[:128]
        refund.save(update_fields=["status", "provider_reference", "updated_at"])
        data = event_data(refund)
        done = refunded_minor(sub_order, statuses=(RefundStatus.SUCCEEDED,))
        if done >= sub_order.captured_minor and can_transition(sub_order.status, SO.REFUNDED):
            sub_order_transition(
                sub_order_id=sub_order.pk,
                to_status=SO.REFUNDED,
                actor=refund.actor,
                event=REFUND_SUCCEEDED,
                data=data,
            )
        else:
            record_order_event(
                order=sub_order.order,
                sub_order=sub_order,
                kind=REFUND_SUCCEEDED,
                actor=refund.actor,
                data=data,
            )
    return refund


def refund_mark_failed(*, refund_id: Any, code: str, message: str = "") -> Refund:
    with transaction.atomic():
        payment, refund, sub_order = _close_reservation(
            refund_id, step="void", kind="void_pending", reason="refund_failed"
        )
        if sub_order is None:
            return refund
        refund.status = RefundStatus.FAILED
        refund.failure_code = (code or "refund_failed")[:64]
        refund.failure_message = (message or "")[:255]
        refund.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
        record_order_event(
            order=sub_order.order,
            sub_order=sub_order,
            kind=REFUND_FAILED,
            actor=f"provider:{payment.provider}",
            data=event_data(refund, failure_code=refund.failure_code),
        )
    logger.warning("refund %s failed at the provider: %s", refund.pk, refund.failure_code)
    return refund


def refunds_redrive_pending(*, now: datetime | None = None, limit: int = 200) -> int:
    """Sweeper: enqueue again every refund pending longer than the configured minutes."""
    # tasks.py imports this module: the task is looked up when it is enqueued.
    from payments.fulfilment.tasks import refund_execute

    now = now or timezone.now()
    minutes = int(getattr(settings, "CLEARHOUSE_REFUND_SWEEP_AFTER_MINUTES", 10))
    stale = Refund.objects.filter(
        status=RefundStatus.PENDING, created_at__lte=now - timedelta(minutes=minutes)
    ).order_by("created_at")
    ids = [str(pk) for pk in stale.values_list("id", flat=True)[:limit]]
    for refund_id in ids:
        refund_execute.delay(refund_id)
    return len(ids)
