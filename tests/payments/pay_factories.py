"""Factories for the payment side's tests: users, and orders split into sub-orders per seller."""

from __future__ import annotations

import itertools

from accounts.models import Role, User
from payments.models import Order, OrderLine, SubOrder

_counter = itertools.count(1)


def make_user(role: str = Role.BUYER, email: str | None = None) -> User:
    number = next(_counter)
    return User.objects.create_user(
        email or f"{role}{number}@example.test",
        "correct horse battery staple",
        role=role,
        is_staff=role == Role.STAFF,
    )


def make_order(
    *,
    buyer: User | None,
    sellers: list[User] | None = None,
    amounts: tuple[int, ...] = (1500, 2500),
    currency: str = "EUR",
) -> Order:
    """An order awaiting payment with one sub-order (and one line) per amount."""
    sellers = sellers or [make_user(Role.SELLER) for _ in amounts]
    assert len(sellers) == len(amounts)
    order = Order.objects.create(
        number=f"T{next(_counter):06d}",
        buyer=buyer,
        buyer_email=buyer.email if buyer else "guest@example.test",
        currency=currency,
        total_minor=sum(amounts),
    )
    for seller, amount in zip(sellers, amounts, strict=True):
        sub = SubOrder.objects.create(
            order=order, seller=seller, amount_minor=amount, currency=currency
        )
        OrderLine.objects.create(
            sub_order=sub, title="Teapot", unit_price_minor=amount, quantity=1, amount_minor=amount
        )
    return order
