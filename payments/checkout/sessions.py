"""Checkout Sessions: a hosted payment page for shops that live outside Clearhouse.

A seller creates a session through the API (line items, currency, return URLs, metadata, expiry),
sends the buyer to `/checkout/s/<id>/`, and reads the session back later. The buyer's submission
makes one Order (one SubOrder for this seller) and pays it through the same payment flow as the
storefront; a failed payment can be retried on the same order while the session is open.

Sessions expire at `expires_at` (default 24 h): a beat task sweeps them and every read checks
again, so an expired session is never shown as open. Expiring releases any stock its unpaid order
holds. Lock order: CheckoutSession -> Order -> Product (payments.orders.services).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import NotFound, ValidationError
from payments.catalog.services import parse_currency
from payments.checkout.session_input import (
    normalise_line_items,
    validate_email_address,
    validate_expires_at,
    validate_metadata,
    validate_url,
)
from payments.flows.models import Payment, PaymentStatus
from payments.orders.buyer_reference import buyer_reference_for
from payments.orders.errors import OrderNotPayable
from payments.orders.expiry import order_expire
from payments.orders.input import AdHocLine
from payments.orders.models import (
    CheckoutSession,
    CheckoutSessionStatus,
    Order,
    OrderStatus,
    SubOrder,
)
from payments.orders.payment_outcomes import order_reopen_for_payment
from payments.orders.services import order_create_for_seller


class SessionNotOpen(OrderNotPayable):
    """This checkout session is no longer open."""

    code = "session_not_open"


@transaction.atomic
def checkout_session_create(
    *,
    seller: Any,
    currency: Any,
    line_items: Any,
    success_url: Any,
    cancel_url: Any,
    metadata: Any = None,
    expires_at: Any = None,
    client_reference_id: Any = "",
    customer_email: Any = "",
) -> CheckoutSession:
    """Validate everything, then write one row. Nothing is reserved until the buyer pays."""
    if not getattr(seller, "is_seller", False):
        raise ValidationError("Only sellers create checkout sessions.", code="not_a_seller")
    now = timezone.now()
    currency = parse_currency(currency)
    success_url = validate_url(success_url, field="success_url")
    cancel_url = validate_url(cancel_url, field="cancel_url")
    metadata = validate_metadata(metadata)
    expires_at = validate_expires_at(expires_at, now)
    if not isinstance(client_reference_id, str) or len(client_reference_id) > 200:
        raise ValidationError("At most 200 characters.", field="client_reference_id")
    customer_email = validate_email_address(
        customer_email or "", required=False, field="customer_email"
    )
    normalised = normalise_line_items(seller=seller, currency=currency, line_items=line_items)
    return CheckoutSession.objects.create(
        seller=seller,
        currency=currency,
        line_items=normalised.items,
        amount_total_minor=normalised.total_minor,
        success_url=success_url,
        cancel_url=cancel_url,
        metadata=metadata,
        client_reference_id=client_reference_id,
        customer_email=customer_email,
        expires_at=expires_at,
    )


def _expire_session(session_id: Any, now: datetime) -> bool:
    with transaction.atomic():
        session = CheckoutSession.objects.select_for_update().get(pk=session_id)
        if session.status != CheckoutSessionStatus.OPEN or session.expires_at > now:
            return False
        if session.order_id is not None:
            order = Order.objects.select_for_update().get(pk=session.order_id)
            if order.status == OrderStatus.PAID:
                # Paid just before the deadline: complete, not expired.
                session.status = CheckoutSessionStatus.COMPLETE
                session.completed_at = session.completed_at or now
                session.save(update_fields=["status", "completed_at", "updated_at"])
                return False
            if order.status in (OrderStatus.AWAITING_PAYMENT, OrderStatus.PAYMENT_FAILED):
                # The session's deadline is the order's deadline.
                if order.expires_at is None or order.expires_at > now:
                    order.expires_at = now
                    order.save(update_fields=["expires_at", "updated_at"])
                order_expire(order=order, now=now)
        session.status = CheckoutSessionStatus.EXPIRED
        session.expired_at = now
        session.save(update_fields=["status", "expired_at", "updated_at"])
        return True


def checkout_session_expire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Expire open sessions past their deadline (beat task); bounded per run."""
    now = now or timezone.now()
    ids = list(
        CheckoutSession.objects.filter(status=CheckoutSessionStatus.OPEN, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("id", flat=True)[:limit]
    )
    return sum(1 for session_id in ids if _expire_session(session_id, now))


def checkout_session_refresh(*, session: CheckoutSession) -> CheckoutSession:
    """The check on access: an open session past its deadline is expired now."""
    if session.status == CheckoutSessionStatus.OPEN and session.expires_at <= timezone.now():
        _expire_session(session.pk, timezone.now())
        session.refresh_from_db()
    return session


@transaction.atomic
def checkout_session_expire_now(*, seller: Any, session_id: Any) -> CheckoutSession:
    """The seller cancels an open session (e.g. the buyer's cart changed)."""
    session = checkout_session_get_for_seller(seller=seller, session_id=session_id)
    if session.status != CheckoutSessionStatus.OPEN:
        raise SessionNotOpen(f"The session is {session.status}.")
    if (
        session.order_id is not None
        and Payment.objects.filter(
            order_id=session.order_id,
            status__in=[
                PaymentStatus.REQUIRES_ACTION,
                PaymentStatus.AWAITING_TRANSFER,
                PaymentStatus.AUTHORIZED,
            ],
        ).exists()
    ):
        raise SessionNotOpen(
            "A payment for this session is in progress; it cannot be expired now.",
            code="payment_in_progress",
        )
    now = timezone.now()
    CheckoutSession.objects.filter(pk=session.pk).update(expires_at=now)
    _expire_session(session.pk, now)
    session.refresh_from_db()
    return session


def checkout_session_get_for_seller(*, seller: Any, session_id: Any) -> CheckoutSession:
    """The seller's own session (staff: any); anything else is 'not found', never 'forbidden'."""
    sessions = CheckoutSession.objects.select_related("order")
    if not getattr(seller, "is_platform_staff", False):
        sessions = sessions.filter(seller=seller)
    session = sessions.filter(pk=session_id).first()
    if session is None:
        raise NotFound("No such checkout session.")
    return checkout_session_refresh(session=session)


def checkout_session_get_public(*, session_id: Any) -> CheckoutSession:
    session = (
        CheckoutSession.objects.select_related("order", "seller").filter(pk=session_id).first()
    )
    if session is None:
        raise NotFound("No such checkout session.")
    return checkout_session_refresh(session=session)


def checkout_session_latest_payment(session: CheckoutSession) -> Payment | None:
    if session.order_id is None:
        return None
    return Payment.objects.filter(order_id=session.order_id).order_by("-created_at").first()


_UNREAD: Any = object()


def checkout_session_payment_status(
    session: CheckoutSession, *, latest_payment: Payment | None = _UNREAD
) -> str:
    """unpaid | processing | paid | failed — what a shop needs to decide whether to ship.
    Pass `latest_payment` when it is already at hand (it is read here otherwise)."""
    if session.status == CheckoutSessionStatus.COMPLETE:
        return "paid"
    payment = latest_payment
    if payment is _UNREAD:
        payment = checkout_session_latest_payment(session)
    if payment is None:
        return "unpaid"
    if payment.status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED):
        return "paid"
    if payment.status in (PaymentStatus.REQUIRES_ACTION, PaymentStatus.AWAITING_TRANSFER):
        return "processing"
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.EXPIRED, PaymentStatus.VOIDED):
        return "failed"
    return "unpaid"


@transaction.atomic
def checkout_session_start_order(*, session_id: Any, buyer_email: Any, buyer: Any = None) -> Order:
    """The order this session's payment pays: made on the first submission (stock reserved),
    reopened on a retry after a failed payment. Raises SessionNotOpen when it cannot be paid."""
    session = CheckoutSession.objects.select_for_update().get(pk=session_id)
    now = timezone.now()
    if session.status == CheckoutSessionStatus.OPEN and session.expires_at <= now:
        raise SessionNotOpen("This checkout session has expired.")
    if session.status != CheckoutSessionStatus.OPEN:
        raise SessionNotOpen(
            "This checkout session is already paid."
            if session.status == CheckoutSessionStatus.COMPLETE
            else "This checkout session has expired."
        )
    email = validate_email_address(buyer_email, required=True)
    if buyer is not None and not getattr(buyer, "is_authenticated", False):
        buyer = None
    if buyer is not None and buyer.pk == session.seller_id:
        raise ValidationError("You cannot pay your own checkout session.", code="own_product")
    if session.order_id is not None:
        # A changed e-mail is written before the order is reopened: its sub-orders are locked
        # before reopening locks products to reserve stock (the lock order, docs/architecture.md).
        order = Order.objects.select_for_update().get(pk=session.order_id)
        if order.buyer_email != email:
            Order.objects.filter(pk=order.pk).update(buyer_email=email)
            SubOrder.objects.filter(order=order).update(
                buyer_reference=buyer_reference_for(buyer_id=order.buyer_id, buyer_email=email)
            )
        return order_reopen_for_payment(order=order)
    product_quantities: dict[int, int] = {}
    ad_hoc: list[AdHocLine] = []
    for item in session.line_items:
        if item.get("product_id"):
            product_quantities[item["product_id"]] = item["quantity"]
        else:
            ad_hoc.append(
                AdHocLine(
                    name=item["name"],
                    unit_amount_minor=item["unit_amount_minor"],
                    quantity=item["quantity"],
                )
            )
    order = order_create_for_seller(
        seller_id=session.seller_id,
        currency=session.currency,
        buyer=buyer,
        buyer_email=email,
        product_quantities=product_quantities,
        ad_hoc_lines=ad_hoc,
        metadata={**session.metadata, "checkout_session": str(session.pk)},
        expires_at=session.expires_at,
    )
    # The buyer pays what the seller was shown at creation; a product repriced since is refused.
    if order.total_minor != session.amount_total_minor:
        raise ValidationError(
            "The seller changed a price since this checkout was created; ask the shop for a new "
            "checkout link.",
            code="price_changed",
        )
    session.order = order
    session.customer_email = email
    session.save(update_fields=["order", "customer_email", "updated_at"])
    return order
