"""The refusals of the payment functions in SQL (payments_refuse, SQLSTATE PM001) as the errors
the Python rules raise: order_mark_paid and the authorisation (payments.flows) both read them.
"""

from __future__ import annotations

from core.errors import IntegrityViolation
from payments.orders.errors import OrderNotPayable, OutOfStock, UnknownProduct
from payments.orders.models import OrderStatus

REFUSAL_SQLSTATE = "PM001"  # payments_refuse


def refusal_error(code: str, detail: dict, *, payment_amount: int | None = None) -> Exception:
    """payments_refuse's code and detail as the error the Python rules raised."""
    if code == "order_not_payable":
        label = dict(OrderStatus.choices).get(detail["status"], detail["status"])
        return OrderNotPayable(f"Order {detail['number']} is {str(label).lower()}.")
    if code == "unknown_product":
        return UnknownProduct(field="product_id")
    if code == "out_of_stock":
        stock = detail["stock"]
        left = f"only {stock} left" if stock > 0 else "it is out of stock"
        return OutOfStock(
            f"Not enough stock of “{detail['title']}”: you asked for {detail['wanted']}, {left}.",
            field="quantity",
            extra={"product_id": detail["product_id"], "available": stock},
        )
    if code == "sub_orders_do_not_match_payment":
        return IntegrityViolation(
            f"Sub-orders sum to {detail['total']}, the payment is {payment_amount}.",
            code="sub_orders_do_not_match_payment",
        )
    if code == "currency":
        return IntegrityViolation("Sub-order currency differs from the payment's.", code="currency")
    raise AssertionError(f"unknown refusal {code}")
