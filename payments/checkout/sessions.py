"""Checkout Sessions: a hosted payment page for shops that live outside Clearhouse.

A seller creates a session through the API (line items, currency, return URLs, metadata, expiry),
sends the buyer to `/checkout/s/<id>/`, and reads the session back later. The buyer's submission
makes one Order (one SubOrder for this seller) and pays it through the same payment flow as the
storefront; a failed payment can be retried on the same order while the session is open.

Sessions expire at `expires_at` (default 24 h): a beat task sweeps them and every read checks
again, so an expired session is never shown as open. Expiring releases any stock its unpaid order
holds. Lock order: CheckoutSession -> Order -> Product (see order_services).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.utils import timezone

from core.errors import NotFound, ValidationError
from payments.catalog.models import Product
from payments.catalog.services import parse_currency
from payments.flows.models import Payment, PaymentStatus
from payments.orders.models import (
    MAX_LINES,
    CheckoutSession,
    CheckoutSessionStatus,
    Order,
    OrderStatus,
)
from payments.orders.services import (
    MAX_ORDER_TOTAL_MINOR,
    AdHocLine,
    CurrencyMismatch,
    OrderNotPayable,
    OutOfStock,
    UnknownProduct,
    order_create_for_seller,
    order_expire,
    order_reopen_for_payment,
    parse_positive_amount_minor,
    parse_quantity,
)

DEFAULT_SESSION_LIFETIME = timedelta(hours=24)
MIN_SESSION_LIFETIME = timedelta(minutes=30)
MAX_SESSION_LIFETIME = timedelta(hours=24)
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
MAX_URL_LENGTH = 2000
MAX_NAME_LENGTH = 200

_url_validator = URLValidator(schemes=["http", "https"])


class SessionNotOpen(OrderNotPayable):
    """This checkout session is no longer open."""

    code = "session_not_open"


def _validate_url(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("Give an http or https URL.", field=field)
    if len(value) > MAX_URL_LENGTH:
        raise ValidationError(f"At most {MAX_URL_LENGTH} characters.", field=field)
    try:
        _url_validator(value)
    except DjangoValidationError:
        raise ValidationError("Give an http or https URL.", field=field) from None
    return value


def _validate_metadata(metadata: Any) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValidationError("Metadata is an object of string keys and values.", field="metadata")
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValidationError(f"At most {MAX_METADATA_KEYS} metadata keys.", field="metadata")
    cleaned = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_METADATA_KEY_LENGTH:
            raise ValidationError(
                f"Metadata keys are 1 to {MAX_METADATA_KEY_LENGTH} characters.", field="metadata"
            )
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE_LENGTH:
            raise ValidationError(
                f"Metadata values are strings of at most {MAX_METADATA_VALUE_LENGTH} characters.",
                field="metadata",
            )
        cleaned[key] = value
    return cleaned


def _validate_expires_at(expires_at: Any, now: datetime) -> datetime:
    if expires_at is None:
        return now + DEFAULT_SESSION_LIFETIME
    if not isinstance(expires_at, datetime) or timezone.is_naive(expires_at):
        raise ValidationError("Give a date-time with a time zone.", field="expires_at")
    if not now + MIN_SESSION_LIFETIME <= expires_at <= now + MAX_SESSION_LIFETIME:
        raise ValidationError(
            "expires_at must be between 30 minutes and 24 hours from now.", field="expires_at"
        )
    return expires_at


@dataclass(frozen=True)
class _NormalisedItems:
    items: list[dict]
    product_quantities: dict[int, int]
    ad_hoc: list[AdHocLine]
    total_minor: int


def _normalise_line_items(*, seller: Any, currency: str, line_items: Any) -> _NormalisedItems:
    if not isinstance(line_items, list) or not line_items:
        raise ValidationError("Give at least one line item.", field="line_items")
    if len(line_items) > MAX_LINES:
        raise ValidationError(f"At most {MAX_LINES} line items.", field="line_items")
    product_quantities: dict[int, int] = {}
    ad_hoc: list[AdHocLine] = []
    for index, item in enumerate(line_items):
        where = f"line_items[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError("Each line item is an object.", field=where)
        unknown = set(item) - {"product_id", "name", "unit_amount_minor", "quantity"}
        if unknown:
            raise ValidationError(
                f"Unknown line item field: {sorted(unknown)[0]}.",
                field=f"{where}.{sorted(unknown)[0]}",
            )
        quantity = parse_quantity(item.get("quantity"), field=f"{where}.quantity")
        if "product_id" in item:
            if "name" in item or "unit_amount_minor" in item:
                raise ValidationError(
                    "A product line takes its name and price from the product: give "
                    "product_id and quantity only.",
                    field=where,
                )
            product_id = item["product_id"]
            if isinstance(product_id, bool) or not isinstance(product_id, int) or product_id < 1:
                raise UnknownProduct(field=f"{where}.product_id")
            product_quantities[product_id] = parse_quantity(
                product_quantities.get(product_id, 0) + quantity, field=f"{where}.quantity"
            )
        else:
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ValidationError("Give the item's name.", field=f"{where}.name")
            name = " ".join(name.split())
            if len(name) > MAX_NAME_LENGTH:
                raise ValidationError(
                    f"At most {MAX_NAME_LENGTH} characters.", field=f"{where}.name"
                )
            unit = parse_positive_amount_minor(
                item.get("unit_amount_minor"), field=f"{where}.unit_amount_minor"
            )
            ad_hoc.append(AdHocLine(name=name, unit_amount_minor=unit, quantity=quantity))

    products = Product.objects.in_bulk(list(product_quantities))
    items: list[dict] = []
    total = 0
    for product_id, quantity in product_quantities.items():
        product = products.get(product_id)
        # Another seller's product is as unknown to this seller as a missing one.
        if product is None or not product.is_active or product.seller_id != seller.pk:
            raise UnknownProduct(field="product_id", extra={"product_id": product_id})
        if product.currency != currency:
            raise CurrencyMismatch(
                f"Product {product_id} is priced in {product.currency}, the session in {currency}.",
                field="currency",
            )
        if product.stock < quantity:
            raise OutOfStock(
                f"Only {product.stock} of product {product_id} left.",
                field="quantity",
                extra={"product_id": product_id, "available": product.stock},
            )
        items.append(
            {
                "product_id": product_id,
                "name": product.title,
                "unit_amount_minor": product.price_minor,
                "quantity": quantity,
                "amount_minor": product.price_minor * quantity,
            }
        )
        total += product.price_minor * quantity
    for line in ad_hoc:
        items.append(
            {
                "product_id": None,
                "name": line.name,
                "unit_amount_minor": line.unit_amount_minor,
                "quantity": line.quantity,
                "amount_minor": line.unit_amount_minor * line.quantity,
            }
        )
        total += line.unit_amount_minor * line.quantity
    if total > MAX_ORDER_TOTAL_MINOR:
        raise ValidationError(
            "The total is too large.", field="line_items", code="amount_too_large"
        )
    return _NormalisedItems(
        items=items, product_quantities=product_quantities, ad_hoc=ad_hoc, total_minor=total
    )


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
    success_url = _validate_url(success_url, field="success_url")
    cancel_url = _validate_url(cancel_url, field="cancel_url")
    metadata = _validate_metadata(metadata)
    expires_at = _validate_expires_at(expires_at, now)
    if not isinstance(client_reference_id, str) or len(client_reference_id) > 200:
        raise ValidationError("At most 200 characters.", field="client_reference_id")
    customer_email = _validate_email(customer_email or "", required=False, field="customer_email")
    normalised = _normalise_line_items(seller=seller, currency=currency, line_items=line_items)
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


def _validate_email(value: Any, *, required: bool, field: str = "email") -> str:
    if not isinstance(value, str):
        raise ValidationError("Enter a valid email address.", field=field)
    value = value.strip()
    if not value:
        if required:
            raise ValidationError("Enter your email address for the receipt.", field=field)
        return ""
    try:
        if len(value) > 254:
            raise DjangoValidationError("too long")
        validate_email(value)
    except DjangoValidationError:
        raise ValidationError("Enter a valid email address.", field=field) from None
    return value


# --- expiry --------------------------------------------------------------------------------------


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


# --- reads ---------------------------------------------------------------------------------------


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


# --- the buyer submits the hosted page -----------------------------------------------------------


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
    email = _validate_email(buyer_email, required=True)
    if buyer is not None and not getattr(buyer, "is_authenticated", False):
        buyer = None
    if buyer is not None and buyer.pk == session.seller_id:
        raise ValidationError("You cannot pay your own checkout session.", code="own_product")
    if session.order_id is not None:
        order = order_reopen_for_payment(order=session.order)
        if order.buyer_email != email:
            Order.objects.filter(pk=order.pk).update(buyer_email=email)
            order.buyer_email = email
        return order
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
