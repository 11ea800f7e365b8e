"""Orders: create from a cart (reserving stock), mark paid, mark failed, reopen for a retry, expire.

Stock is reserved by decrementing `Product.stock` under row locks and released by adding it back.
`Order.stock_reserved` says whether the order currently holds its units; it only flips under the
order's row lock, so a release (payment failed, order expired) happens exactly once however often
it is called, and a retry on the same order reserves again.

Lock order in this module (and for anyone calling it inside a larger transaction):
    CheckoutSession -> Order -> Product (ascending id)
A new order locks only its products (the order row does not exist yet). No lock is held across a
network call: the payment provider is called after these transactions commit.

Prices, sellers and currencies always come from the database, never from the caller's form.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone

from core.errors import ApplicationError, Conflict, NotFound, ValidationError
from core.fast_sql import fetch_all
from payments.catalog.models import Product
from payments.orders.models import (
    MAX_LINES,
    MAX_QUANTITY_PER_LINE,
    Order,
    OrderLine,
    OrderStatus,
    SubOrder,
    SubOrderStatus,
)

# An order's total may not exceed this many minor units (10 billion in a 2-decimal currency):
# far above any honest basket, far below BigInteger overflow.
MAX_ORDER_TOTAL_MINOR = 10**12
# Unpaid orders hold their stock this long (seconds) unless the payment method needs longer.
DEFAULT_PAYMENT_WINDOW_S = 30 * 60

_ORDER_NUMBER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out on the phone
_ADDRESS_FIELDS = {
    # name: (required, max length)
    "name": (True, 200),
    "line1": (True, 200),
    "line2": (False, 200),
    "city": (True, 100),
    "postal_code": (True, 20),
    "country": (True, 2),
    "phone": (False, 40),
}


class UnknownProduct(NotFound):
    """This product does not exist or is no longer for sale."""

    code = "unknown_product"


class OutOfStock(Conflict):
    """Not enough stock left."""

    code = "out_of_stock"


class CurrencyMismatch(ValidationError):
    """One order is paid in one currency."""

    code = "currency_mismatch"


class OrderNotPayable(Conflict):
    """This order can no longer be paid."""

    code = "order_not_payable"


@dataclass(frozen=True)
class CartLine:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class AdHocLine:
    """A line priced by the seller's own shop (Checkout Session API), with no product behind it."""

    name: str
    unit_amount_minor: int
    quantity: int


# --- input checks (shared by pages, the API and the services) -----------------------------------


def parse_quantity(value: Any, *, field: str = "quantity") -> int:
    """A whole number of units from 1 to MAX_QUANTITY_PER_LINE. Accepts an int or a string of
    digits (forms); refuses booleans, floats, fractions, signs, exponents and blanks."""
    if isinstance(value, bool):
        raise ValidationError("Enter a whole number of units.", field=field)
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 6:
            raise ValidationError("Enter a whole number of units, like 1 or 2.", field=field)
        value = int(text)
    if not isinstance(value, int):
        raise ValidationError("Enter a whole number of units.", field=field)
    if value < 1:
        raise ValidationError("The quantity must be at least 1.", field=field)
    if value > MAX_QUANTITY_PER_LINE:
        raise ValidationError(
            f"At most {MAX_QUANTITY_PER_LINE} units of one product per order.", field=field
        )
    return value


def parse_positive_amount_minor(value: Any, *, field: str = "unit_amount_minor") -> int:
    """A positive integer count of minor units (no floats, no strings), at most the order cap."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            "Give the amount as a whole number of minor units (e.g. 1999 for 19.99).", field=field
        )
    if value < 1:
        raise ValidationError("The amount must be positive.", field=field)
    if value > MAX_ORDER_TOTAL_MINOR:
        raise ValidationError("The amount is too large.", field=field)
    return value


def validate_shipping_address(data: Mapping[str, Any] | None) -> dict[str, str]:
    """Trimmed strings with required parts present and lengths bounded; country upper-cased."""
    if not isinstance(data, Mapping):
        raise ValidationError("Enter a shipping address.", field="shipping_address")
    unknown = set(data) - set(_ADDRESS_FIELDS)
    if unknown:
        raise ValidationError(
            f"Unknown address field: {sorted(unknown)[0]}.", field="shipping_address"
        )
    cleaned: dict[str, str] = {}
    for name, (required, max_length) in _ADDRESS_FIELDS.items():
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValidationError("Enter text.", field=name)
        value = " ".join(value.split())
        if required and not value:
            raise ValidationError("This part of the address is required.", field=name)
        if len(value) > max_length:
            raise ValidationError(f"At most {max_length} characters.", field=name)
        if value:
            cleaned[name] = value
    country = cleaned["country"].upper()
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise ValidationError("Use the two-letter country code, e.g. DE or US.", field="country")
    cleaned["country"] = country
    return cleaned


def _normalise_cart_lines(cart_lines: Iterable[Any]) -> dict[int, int]:
    """{product_id: quantity}, duplicates merged, every value checked."""
    quantities: dict[int, int] = {}
    for count, line in enumerate(cart_lines, start=1):
        if count > MAX_LINES:
            raise ValidationError(f"At most {MAX_LINES} different products per order.")
        if isinstance(line, Mapping):
            product_id, quantity = line.get("product_id"), line.get("quantity")
        else:
            product_id, quantity = line.product_id, line.quantity
        if isinstance(product_id, bool) or not isinstance(product_id, int) or product_id < 1:
            raise UnknownProduct(field="product_id")
        quantity = parse_quantity(quantity)
        quantities[product_id] = parse_quantity(quantities.get(product_id, 0) + quantity)
    if not quantities:
        raise ValidationError("Your cart is empty.", code="empty_cart")
    return quantities


def _new_order_number() -> str:
    return "CH-" + "".join(secrets.choice(_ORDER_NUMBER_ALPHABET) for _ in range(10))


def _payment_window() -> timedelta:
    return timedelta(seconds=getattr(settings, "ORDER_PAYMENT_WINDOW_S", DEFAULT_PAYMENT_WINDOW_S))


# --- stock ---------------------------------------------------------------------------------------


def _lock_products(product_ids: Iterable[int]) -> dict[int, Product]:
    """Row-lock the products in ascending id order (the one order every caller uses)."""
    ids = sorted(set(product_ids))
    products = list(Product.objects.select_for_update().filter(id__in=ids).order_by("id"))
    return {product.id: product for product in products}


def _take_stock(products: dict[int, Product], quantities: dict[int, int]) -> None:
    """Check every line first, then decrement: all or nothing. Caller holds the product locks."""
    for product_id in sorted(quantities):
        product, wanted = products[product_id], quantities[product_id]
        if product.stock < wanted:
            left = f"only {product.stock} left" if product.stock > 0 else "it is out of stock"
            raise OutOfStock(
                f"Not enough stock of “{product.title}”: you asked for {wanted}, {left}.",
                field="quantity",
                extra={"product_id": product_id, "available": product.stock},
            )
    # One conditional UPDATE for all lines; `stock >= wanted` is a second guard beside the lock
    # (and the CHECK constraint a third).
    wanted = _per_product(quantities)
    updated = Product.objects.filter(id__in=list(quantities), stock__gte=wanted).update(
        stock=F("stock") - wanted
    )
    assert updated == len(quantities), "stock changed under a row lock"


def _per_product(quantities: dict[int, int]) -> Case:
    return Case(
        *(When(id=product_id, then=Value(quantity)) for product_id, quantity in quantities.items()),
        output_field=IntegerField(),
    )


def _product_quantities(**line_filter: Any) -> dict[int, int]:
    """{product id: units} over the order lines matching `line_filter`."""
    quantities: dict[int, int] = {}
    for product_id, quantity in OrderLine.objects.filter(
        product__isnull=False, **line_filter
    ).values_list("product_id", "quantity"):
        quantities[product_id] = quantities.get(product_id, 0) + quantity
    return quantities


def _order_product_quantities(order: Order) -> dict[int, int]:
    return _product_quantities(sub_order__order=order)


def _give_back_stock(quantities: dict[int, int]) -> None:
    """Return units to stock: product locks in id order, then one UPDATE for all of them."""
    _lock_products(quantities)
    if quantities:
        given_back = _per_product(quantities)
        Product.objects.filter(id__in=list(quantities)).update(stock=F("stock") + given_back)


def sub_order_restock_locked(sub_order: SubOrder) -> None:
    """Give one seller's units back (its part was rejected). Caller holds the order's row lock
    and has just moved the sub-order to a final state, so this runs once per sub-order."""
    _give_back_stock(_product_quantities(sub_order=sub_order))


def _release_stock_locked(order: Order) -> bool:
    """Give the order's units back. Caller holds the order's row lock. Returns True if released."""
    if not order.stock_reserved:
        return False
    _give_back_stock(_order_product_quantities(order))
    order.stock_reserved = False
    order.save(update_fields=["stock_reserved", "updated_at"])
    return True


def _reserve_stock_locked(order: Order) -> None:
    """Take the order's units again (a retry after a failed payment). Caller holds the order lock."""
    if order.stock_reserved:
        return
    quantities = _order_product_quantities(order)
    products = _lock_products(quantities)
    missing = set(quantities) - set(products)
    if missing:
        raise UnknownProduct(field="product_id")
    _take_stock(products, quantities)
    order.stock_reserved = True
    order.save(update_fields=["stock_reserved", "updated_at"])


def _lock_order(order_id: Any) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


# --- create --------------------------------------------------------------------------------------


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
                    expires_at=expires_at or timezone.now() + _payment_window(),
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
    quantities = _normalise_cart_lines(cart_lines)
    address = validate_shipping_address(shipping_address)
    email = buyer_email or getattr(buyer, "email", "")
    if not email:
        raise ValidationError("An email address is needed for the receipt.", field="email")

    products = _lock_products(quantities)
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
    _take_stock(products, quantities)
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
    products = _lock_products(product_quantities)
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
        _take_stock(products, product_quantities)
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


# --- payment outcomes (called by the payment side) ------------------------------------------------


def _lock_session_of(order_id: Any):
    from payments.orders.models import CheckoutSession

    return CheckoutSession.objects.select_for_update().filter(order_id=order_id).first()


def order_mark_paid(*, order: Order) -> None:
    """Order PAID, sub-orders AWAITING_ACCEPTANCE (each with its acceptance window and order.paid
    event), its checkout session (if any) complete: payments_order_mark_paid, the one
    implementation (a payment's authorisation does it in the same statement).

    Idempotent. If the order had released its stock (payment failed or order expired) while a
    payment was still in flight, the units are reserved again; if they are gone, OutOfStock or
    OrderNotPayable is raised and nothing changes, so the payment side can void the payment.
    """
    from payments import conf
    from payments.flows.authorize_plpgsql import REFUSAL_SQLSTATE, refusal_error
    from payments.orders.events import dispatch_after_commit

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
    _sync(order, Order.objects.get(pk=order.pk))


@transaction.atomic
def order_mark_payment_failed(*, order: Order, reason: str) -> None:
    """An unpaid order's payment failed: PAYMENT_FAILED, stock released. Idempotent; a no-op for
    an order already paid (another payment succeeded), expired or cancelled."""
    locked = _lock_order(order.pk)
    if locked.status != OrderStatus.AWAITING_PAYMENT:
        _sync(order, locked)
        return
    _release_stock_locked(locked)
    locked.status = OrderStatus.PAYMENT_FAILED
    locked.payment_failure_reason = (reason or "The payment did not go through.")[:255]
    locked.save(update_fields=["status", "payment_failure_reason", "updated_at"])
    _sync(order, locked)


@transaction.atomic
def order_reopen_for_payment(*, order: Order) -> Order:
    """Before another payment attempt on the same order: reserve the stock again if it was
    released and put the order back to AWAITING_PAYMENT with a fresh payment window."""
    locked = _lock_order(order.pk)
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
        _sync(order, locked)
        return locked
    if has_products:
        _reserve_stock_locked(locked)
    locked.status = OrderStatus.AWAITING_PAYMENT
    locked.expires_at = max(locked.expires_at or timezone.now(), timezone.now() + _payment_window())
    locked.save(update_fields=["status", "expires_at", "updated_at"])
    _sync(order, locked)
    return locked


@transaction.atomic
def order_extend_payment_window(*, order: Order, until: datetime) -> None:
    """A slow method (bank transfer) keeps the stock until its own deadline."""
    locked = _lock_order(order.pk)
    if locked.status == OrderStatus.AWAITING_PAYMENT and (
        locked.expires_at is None or locked.expires_at < until
    ):
        locked.expires_at = until
        locked.save(update_fields=["expires_at", "updated_at"])
    _sync(order, locked)


def _expire_one(order_id: Any, now: datetime) -> bool:
    with transaction.atomic():
        _lock_session_of(order_id)
        locked = _lock_order(order_id)
        if (
            locked.status not in (OrderStatus.AWAITING_PAYMENT, OrderStatus.PAYMENT_FAILED)
            or locked.expires_at is None
            or locked.expires_at > now
        ):
            return False
        _release_stock_locked(locked)
        locked.status = OrderStatus.EXPIRED
        locked.save(update_fields=["status", "updated_at"])
        SubOrder.objects.filter(order=locked, status=SubOrderStatus.AWAITING_PAYMENT).update(
            status=SubOrderStatus.CANCELLED, updated_at=now
        )
        return True


def order_expire_unpaid(*, now: datetime | None = None, limit: int = 500) -> int:
    """Expire unpaid orders past `expires_at` and release their stock; returns how many.

    One short transaction per order, so a large backlog never holds many locks at once;
    `limit` bounds one run (the beat schedule runs it again).
    """
    now = now or timezone.now()
    order_ids = list(
        Order.objects.filter(
            status__in=[OrderStatus.AWAITING_PAYMENT, OrderStatus.PAYMENT_FAILED],
            expires_at__lte=now,
        )
        .order_by("expires_at")
        .values_list("id", flat=True)[:limit]
    )
    return sum(1 for order_id in order_ids if _expire_one(order_id, now))


def order_expire(*, order: Order, now: datetime | None = None) -> bool:
    """Expire one order now if it is unpaid and past its deadline (a check on access)."""
    expired = _expire_one(order.pk, now or timezone.now())
    order.refresh_from_db()
    return expired


def _sync(target: Order, source: Order) -> None:
    """Keep the caller's instance current after we changed the locked copy."""
    for field in (
        "status",
        "stock_reserved",
        "expires_at",
        "payment_failure_reason",
        "updated_at",
    ):
        setattr(target, field, getattr(source, field))
