"""Stock: reserved by decrementing `Product.stock` under row locks, released by adding it back.

`Order.stock_reserved` says whether the order currently holds its units; it only flips under the
order's row lock, so a release (payment failed, order expired) happens exactly once however often
it is called, and a retry on the same order reserves again. Products are locked in ascending id
order (lock order: CheckoutSession -> Order -> Product).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Case, F, IntegerField, Value, When

from payments.catalog.models import Product
from payments.orders.errors import OutOfStock, UnknownProduct
from payments.orders.models import Order, OrderLine, SubOrder


def lock_products(product_ids: Iterable[int]) -> dict[int, Product]:
    """Row-lock the products in ascending id order (the one order every caller uses)."""
    ids = sorted(set(product_ids))
    products = list(Product.objects.select_for_update().filter(id__in=ids).order_by("id"))
    return {product.id: product for product in products}


def take_stock(products: dict[int, Product], quantities: dict[int, int]) -> None:
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
    lock_products(quantities)
    if quantities:
        given_back = _per_product(quantities)
        Product.objects.filter(id__in=list(quantities)).update(stock=F("stock") + given_back)


def sub_order_restock_locked(sub_order: SubOrder) -> None:
    """Give one seller's units back (its part was rejected). Caller holds the order's row lock
    and has just moved the sub-order to a final state, so this runs once per sub-order."""
    _give_back_stock(_product_quantities(sub_order=sub_order))


def release_stock_locked(order: Order) -> bool:
    """Give the order's units back. Caller holds the order's row lock. Returns True if released."""
    if not order.stock_reserved:
        return False
    _give_back_stock(_order_product_quantities(order))
    order.stock_reserved = False
    order.save(update_fields=["stock_reserved", "updated_at"])
    return True


def reserve_stock_locked(order: Order) -> None:
    """Take the order's units again (a retry after a failed payment). Caller holds the order lock."""
    if order.stock_reserved:
        return
    quantities = _order_product_quantities(order)
    products = lock_products(quantities)
    missing = set(quantities) - set(products)
    if missing:
        raise UnknownProduct(field="product_id")
    take_stock(products, quantities)
    order.stock_reserved = True
    order.save(update_fields=["stock_reserved", "updated_at"])
