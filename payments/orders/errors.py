"""Why an order cannot be made or paid: the errors the order services (and the payment
functions' refusals, payments.orders.refusals) raise.
"""

from __future__ import annotations

from core.errors import Conflict, NotFound, ValidationError


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
