"""Orders: made from a cart (reserving stock) or for one seller (a Checkout Session); one SubOrder
per seller, one OrderLine per product.

Payment outcomes (paid, failed, reopened) are payments.orders.payment_outcomes; expiry is
payments.orders.expiry; stock is payments.orders.stock.

Lock order (here and for anyone calling these inside a larger transaction):
    CheckoutSession -> Order -> Product (ascending id)
A new order locks only its products (the order row does not exist yet). No lock is held across a
network call: the payment provider is called after these transactions commit.

Prices, sellers and currencies always come from the database, never from the caller's form.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError, Conflict, ValidationError
from payments.catalog.models import Product
from payments.orders.errors import CurrencyMismatch, UnknownProduct
from payments.orders.input import (
    MAX_ORDER_TOTAL_MINOR,
    AdHocLine,
    CartLine,
    normalise_cart_lines,
    validate_shipping_address,
)
from payments.orders.models import CheckoutSession, Order, OrderLine, SubOrder
from payments.orders.stock import lock_products, take_stock

# Unpaid orders hold their stock this long (seconds) unless the payment method needs longer.
DEFAULT_PAYMENT_WINDOW_S = 30 * 60
_ORDER_NUMBER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out on the phone


def _new_order_number() -> str:
    return "CH-" + "".join(secrets.choice(_ORDER_NUMBER_ALPHABET) for _ in range(10))


def payment_window() -> timedelta:
    return timedelta(seconds=getattr(settings, "ORDER_PAYMENT_WINDOW_S", DEFAULT_PAYMENT_WINDOW_S))


def lock_order(order_id: Any) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def lock_order_rows(order_id: Any) -> None:
    """Everything of an order a payment's authorisation may lock, in the one lock order: its
    checkout session, the order, its sub-orders and its products (by id). For a caller that must
    lock something later in the order (ledger accounts) before it authorises."""
    CheckoutSession.objects.select_for_update().filter(order_id=order_id).first()
    lock_order(order_id)
    list(SubOrder.objects.select_for_update().filter(order_id=order_id).order_by("id"))
    # One statement whatever the lines (none may name a product): the products by id.
    lines = OrderLine.objects.filter(sub_order__order_id=order_id, product__isnull=False)
    list(
        Product.objects.select_for_update(of=("self",))
        .filter(id__in=lines.values("product_id"))
        .order_by("id")
        .values_list("id", flat=True)
    )


@dataclass(frozen=True)
class _PricedLine:
    seller_id: int
    product_id: int | None
    title: str
    unit_price_minor: int
    quantity: int


def _create_order_rows(
    *,
    buyer: Any,
    buyer_email: str,
    currency: str,
    lines: list[_PricedLine],
    shipping_address: dict,
    metadata: dict | None,
    checkout_token: Any,
    stock_reserved: bool,
    expires_at: datetime | None,
) -> Order:
    total_minor = 0
    by_seller: dict[int, list[_PricedLine]] = {}
    for line in lines:
        total_minor += line.unit_price_minor * line.quantity
        by_seller.setdefault(line.seller_id, []).append(line)
    if total_minor > MAX_ORDER_TOTAL_MINOR:
        raise ValidationError("The order total is too large.", code="amount_too_large")
    assert total_minor > 0

    order = None
    for _attempt in range(5):  # a number collision is ~1 in 10^15; bounded anyway
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    number=_new_order_number(),
                    buyer=buyer,
                    buyer_email=buyer_email,
                    currency=currency,
                    total_minor=total_minor,
                    shipping_address=shipping_address,
                    metadata=metadata or {},
                    checkout_token=checkout_token,
                    stock_reserved=stock_reserved,
                    expires_at=expires_at or timezone.now() + payment_window(),
                )
            break
        except IntegrityError:
            if checkout_token and Order.objects.filter(checkout_token=checkout_token).exists():
                raise Conflict(
                    "This checkout was already submitted.", code="duplicate_checkout"
                ) from None
            continue
    if order is None:
        raise ApplicationError("Could not allocate an order number; try again.")

    sub_orders = [
        SubOrder(
            order=order,
            seller_id=seller_id,
            amount_minor=sum(
                line.unit_price_minor * line.quantity for line in by_seller[seller_id]
            ),
            currency=currency,
        )
        for seller_id in sorted(by_seller)
    ]
    SubOrder.objects.bulk_create(sub_orders)  # PostgreSQL returns their ids
    order_lines = [
        OrderLine(
            sub_order=sub_order,
            product_id=line.product_id,
            title=line.title,
            unit_price_minor=line.unit_price_minor,
            quantity=line.quantity,
            amount_minor=line.unit_price_minor * line.quantity,
        )
        for sub_order in sub_orders
        for line in by_seller[sub_order.seller_id]
    ]
    OrderLine.objects.bulk_create(order_lines)
    # Postcondition: the parts add up to the whole.
    assert sum(s.amount_minor for s in sub_orders) == order.total_minor
    assert all(s.pk is not None for s in sub_orders)
    # What was just written, for callers that render the new order without reading it back.
    for sub_order in sub_orders:
        sub_order.created_lines = [line for line in order_lines if line.sub_order is sub_order]
    order.created_sub_orders = sub_orders
    return order


def _priced_lines_from_products(
    *,
    products: dict[int, Product],
    quantities: dict[int, int],
    buyer: Any,
    only_seller_id: int | None = None,
) -> tuple[str, list[_PricedLine]]:
    lines = []
    currencies = set()
    for product_id in sorted(quantities):
        product = products.get(product_id)
        if product is None or not product.is_active:
            raise UnknownProduct(
                "A product in your cart does not exist or is no longer for sale.",
                field="product_id",
                extra={"product_id": product_id},
            )
        if only_seller_id is not None and product.seller_id != only_seller_id:
            raise UnknownProduct(field="product_id", extra={"product_id": product_id})
        if buyer is not None and product.seller_id == buyer.pk:
            raise ValidationError("You cannot buy your own product.", code="own_product")
        currencies.add(product.currency)
        lines.append(
            _PricedLine(
                seller_id=product.seller_id,
                product_id=product.id,
                title=product.title,
                unit_price_minor=product.price_minor,
                quantity=quantities[product_id],
            )
        )
    if len(currencies) > 1:
        raise CurrencyMismatch(
            "Your cart holds products priced in different currencies "
            f"({', '.join(sorted(currencies))}). One order is paid in one currency: "
            "check out the products of one currency, then the others."
        )
    return currencies.pop(), lines


@transaction.atomic
def order_create_from_cart(
    *,
    buyer: Any,
    cart_lines: Iterable[CartLine | Mapping[str, Any]],
    shipping_address: Mapping[str, Any],
    buyer_email: str | None = None,
    checkout_token: Any = None,
    metadata: dict | None = None,
) -> Order:
    """One Order, one SubOrder per seller, one OrderLine per product; stock reserved.

    Raises UnknownProduct, OutOfStock, CurrencyMismatch or ValidationError with nothing written.
    With a `checkout_token` already used by this buyer, returns that order (a resubmitted form).
    """
    quantities = normalise_cart_lines(cart_lines)
    address = validate_shipping_address(shipping_address)
    email = buyer_email or getattr(buyer, "email", "")
    if not email:
        raise ValidationError("An email address is needed for the receipt.", field="email")

    products = lock_products(quantities)
    if checkout_token is not None:
        # Checked after the locks: a twin submission waiting on them now sees the first one's order.
        existing = Order.objects.filter(checkout_token=checkout_token).first()
        if existing is not None:
            if existing.buyer_id != getattr(buyer, "pk", None):
                raise Conflict("This checkout was already submitted.", code="duplicate_checkout")
            return existing
    currency, lines = _priced_lines_from_products(
        products=products, quantities=quantities, buyer=buyer
    )
    take_stock(products, quantities)
    return _create_order_rows(
        buyer=buyer,
        buyer_email=email,
        currency=currency,
        lines=lines,
        shipping_address=address,
        metadata=metadata,
        checkout_token=checkout_token,
        stock_reserved=True,
        expires_at=None,
    )


def order_create_for_seller(
    *,
    seller_id: int,
    currency: str,
    buyer: Any,
    buyer_email: str,
    product_quantities: dict[int, int],
    ad_hoc_lines: list[AdHocLine],
    shipping_address: dict | None = None,
    metadata: dict | None = None,
    expires_at: datetime | None = None,
) -> Order:
    """An order with one seller (a Checkout Session): product lines reserve stock at the database
    price; ad-hoc lines carry the seller's own prices. Must run inside the caller's transaction."""
    assert transaction.get_connection().in_atomic_block
    products = lock_products(product_quantities)
    lines: list[_PricedLine] = []
    if product_quantities:
        product_currency, lines = _priced_lines_from_products(
            products=products,
            quantities=product_quantities,
            buyer=buyer,
            only_seller_id=seller_id,
        )
        if product_currency != currency:
            raise CurrencyMismatch(
                f"A product is priced in {product_currency}, the session in {currency}."
            )
        take_stock(products, product_quantities)
    lines += [
        _PricedLine(
            seller_id=seller_id,
            product_id=None,
            title=line.name,
            unit_price_minor=line.unit_amount_minor,
            quantity=line.quantity,
        )
        for line in ad_hoc_lines
    ]
    if not lines:
        raise ValidationError("There is nothing to pay for.", code="empty_cart")
    return _create_order_rows(
        buyer=buyer,
        buyer_email=buyer_email,
        currency=currency,
        lines=lines,
        shipping_address=shipping_address or {},
        metadata=metadata,
        checkout_token=None,
        stock_reserved=bool(product_quantities),
        expires_at=expires_at,
    )


def sync_order(target: Order, source: Order) -> None:
    """Keep the caller's instance current after we changed the locked copy."""
    for field in (
        "status",
        "stock_reserved",
        "expires_at",
        "payment_failure_reason",
        "updated_at",
    ):
        setattr(target, field, getattr(source, field))
