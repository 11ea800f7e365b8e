"""The buyer's cart: product ids and quantities only (prices are read at checkout).

Signed-in users keep a Cart row (it follows them across devices); guests keep {product_id: qty}
in their session. A guest who signs in has the session cart merged into the user's cart on the
next cart access (Django keeps session data across login, so nothing is lost).

Adding checks what can be checked early (the product is for sale, the quantity is a sane whole
number within stock, the cart stays in one currency); checkout checks everything again under row
locks, because stock and prices may change in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.http import HttpRequest

from core.errors import ValidationError
from payments.catalog.models import Product
from payments.checkout.models import Cart, CartItem
from payments.orders.errors import CurrencyMismatch, OutOfStock, UnknownProduct
from payments.orders.input import CartLine, parse_quantity, parse_quantity_text
from payments.orders.models import MAX_LINES, MAX_QUANTITY_PER_LINE

SESSION_KEY = "storefront_cart"


@dataclass
class CartRow:
    product: Product
    quantity: int
    amount_minor: int
    problem: str = ""  # shown beside the line: out of stock, no longer for sale


@dataclass
class CartSummary:
    rows: list[CartRow] = field(default_factory=list)
    currencies: list[str] = field(default_factory=list)
    total_minor: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.currencies[0] if len(self.currencies) == 1 else ""

    @property
    def is_empty(self) -> bool:
        return not self.rows

    @property
    def can_check_out(self) -> bool:
        return bool(self.rows) and not self.problems


def _user(request: HttpRequest) -> Any | None:
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _session_cart(request: HttpRequest) -> dict[int, int]:
    raw = request.session.get(SESSION_KEY) or {}
    cart: dict[int, int] = {}
    if isinstance(raw, dict):
        for key, value in list(raw.items())[:MAX_LINES]:
            try:
                product_id = int(key)
            except (TypeError, ValueError):
                continue
            if isinstance(value, int) and 0 < value <= MAX_QUANTITY_PER_LINE and product_id > 0:
                cart[product_id] = value
    return cart


def _save_session_cart(request: HttpRequest, cart: dict[int, int]) -> None:
    if cart:
        request.session[SESSION_KEY] = {str(k): v for k, v in cart.items()}
    else:
        request.session.pop(SESSION_KEY, None)
    request.session.modified = True


def _merge_guest_cart(request: HttpRequest, user: Any) -> None:
    """Move a guest cart into the user's cart (quantities added, capped, unsellable lines dropped)."""
    guest = _session_cart(request)
    if not guest:
        if SESSION_KEY in request.session:
            _save_session_cart(request, {})
        return
    with transaction.atomic():
        cart = _lock_cart(user)
        current = dict(cart.items.values_list("product_id", "quantity"))
        products = Product.objects.in_bulk(list(guest))
        for product_id, quantity in guest.items():
            product = products.get(product_id)
            if product is None or not product.is_active or product.seller_id == user.pk:
                continue
            if product_id not in current and len(current) >= MAX_LINES:
                break
            total = min(current.get(product_id, 0) + quantity, MAX_QUANTITY_PER_LINE)
            CartItem.objects.update_or_create(
                cart=cart, product_id=product_id, defaults={"quantity": total}
            )
            current[product_id] = total
    _save_session_cart(request, {})


def _lock_cart(user: Any) -> Cart:
    # A cart just created is locked by its own insert; an existing one by the SELECT ... FOR UPDATE.
    return Cart.objects.select_for_update().get_or_create(user=user)[0]


def _current_quantities(request: HttpRequest) -> dict[int, int]:
    user = _user(request)
    if user is None:
        return _session_cart(request)
    _merge_guest_cart(request, user)
    return dict(
        CartItem.objects.filter(cart__user=user)
        .order_by("added_at", "id")
        .values_list("product_id", "quantity")
    )


def cart_item_count(*, request: HttpRequest) -> int:
    """Units in the cart, for the nav's cart link: read-only (a guest cart not yet merged into a
    signed-in buyer's counts too, as it will be merged on the next cart action)."""
    # An error page may render for a request the session middleware never saw (a 400 for a bad
    # Host): no session, no guest cart.
    guest = sum(_session_cart(request).values()) if hasattr(request, "session") else 0
    user = _user(request)
    if user is None:
        return guest
    stored = CartItem.objects.filter(cart__user=user).aggregate(units=Sum("quantity"))["units"]
    return guest + (stored or 0)


def cart_lines(*, request: HttpRequest) -> list[CartLine]:
    return [CartLine(product_id=pid, quantity=q) for pid, q in _current_quantities(request).items()]


def _sellable_product(product_id: Any) -> Product:
    try:
        product_id = int(product_id)
    except (TypeError, ValueError):
        raise UnknownProduct(field="product_id") from None
    product = Product.objects.filter(pk=product_id, is_active=True).first()
    if product is None:
        raise UnknownProduct(field="product_id")
    return product


def _check_line(
    *, request: HttpRequest, product: Product, quantity: int, current: dict[int, int]
) -> None:
    user = _user(request)
    if user is not None and product.seller_id == user.pk:
        raise ValidationError("You cannot buy your own product.", code="own_product")
    if quantity > product.stock:
        left = f"only {product.stock} left" if product.stock > 0 else "it is out of stock"
        raise OutOfStock(
            f"Not enough stock of “{product.title}”: {left}.",
            field="quantity",
            extra={"available": product.stock},
        )
    others = [pid for pid in current if pid != product.pk]
    if product.pk not in current and len(current) >= MAX_LINES:
        raise ValidationError(f"A cart holds at most {MAX_LINES} different products.")
    if others:
        currencies = set(
            Product.objects.filter(pk__in=others).values_list("currency", flat=True).distinct()
        )
        if currencies and currencies != {product.currency}:
            raise CurrencyMismatch(
                f"Your cart holds products priced in {', '.join(sorted(currencies))}; this one "
                f"is priced in {product.currency}. One order is paid in one currency: check out "
                "your cart first (or empty it), then add this product."
            )


def _store(request: HttpRequest, product_id: int, quantity: int | None) -> None:
    """Set the line's quantity (None removes it)."""
    user = _user(request)
    if user is None:
        cart = _session_cart(request)
        if quantity is None:
            cart.pop(product_id, None)
        else:
            cart[product_id] = quantity
        _save_session_cart(request, cart)
        return
    with transaction.atomic():
        cart = _lock_cart(user)
        if quantity is None:
            CartItem.objects.filter(cart=cart, product_id=product_id).delete()
        else:
            CartItem.objects.update_or_create(
                cart=cart, product_id=product_id, defaults={"quantity": quantity}
            )


def _form_quantity(quantity: Any) -> int:
    # The cart is fed by HTML forms: a quantity arrives as the field's text (or a number from code).
    return parse_quantity_text(quantity) if isinstance(quantity, str) else parse_quantity(quantity)


def cart_add(*, request: HttpRequest, product_id: Any, quantity: Any) -> Product:
    """Add units of a product (to any already in the cart). Raises with a message on bad input."""
    product = _sellable_product(product_id)
    quantity = _form_quantity(quantity)
    current = _current_quantities(request)
    total = current.get(product.pk, 0) + quantity
    if total > MAX_QUANTITY_PER_LINE:
        raise ValidationError(
            f"At most {MAX_QUANTITY_PER_LINE} units of one product per order "
            f"(your cart already has {current.get(product.pk, 0)}).",
            field="quantity",
        )
    _check_line(request=request, product=product, quantity=total, current=current)
    _store(request, product.pk, total)
    return product


def cart_set_quantity(*, request: HttpRequest, product_id: Any, quantity: Any) -> Product:
    product = _sellable_product(product_id)
    quantity = _form_quantity(quantity)
    current = _current_quantities(request)
    _check_line(request=request, product=product, quantity=quantity, current=current)
    _store(request, product.pk, quantity)
    return product


def cart_remove(*, request: HttpRequest, product_id: Any) -> None:
    try:
        product_id = int(product_id)
    except (TypeError, ValueError):
        raise UnknownProduct(field="product_id") from None
    _store(request, product_id, None)


def cart_clear(*, request: HttpRequest) -> None:
    user = _user(request)
    _save_session_cart(request, {})
    if user is not None:
        CartItem.objects.filter(cart__user=user).delete()


def cart_summary(*, request: HttpRequest) -> CartSummary:
    """The cart priced from the database now, with any line that cannot be bought flagged."""
    quantities = _current_quantities(request)
    products = Product.objects.select_related("seller").in_bulk(list(quantities))
    summary = CartSummary()
    currencies: set[str] = set()
    for product_id, quantity in quantities.items():
        product = products.get(product_id)
        if product is None:
            continue  # deleted products simply leave the cart
        row = CartRow(
            product=product, quantity=quantity, amount_minor=product.price_minor * quantity
        )
        if not product.is_active:
            row.problem = "No longer for sale: remove it to check out."
        elif product.stock < quantity:
            row.problem = (
                f"Only {product.stock} left: lower the quantity."
                if product.stock
                else "Out of stock: remove it to check out."
            )
        if row.problem:
            summary.problems.append(f"{product.title}: {row.problem}")
        currencies.add(product.currency)
        summary.rows.append(row)
        summary.total_minor += row.amount_minor
    summary.currencies = sorted(currencies)
    if len(currencies) > 1:
        summary.problems.append(
            "Your cart holds products priced in different currencies "
            f"({', '.join(summary.currencies)}). One order is paid in one currency: remove the "
            "products of the other currencies to check out."
        )
        summary.total_minor = 0
    return summary
