"""Shared by the tests that hold a payment's rows to those pinned from the former Python path: the
escrow balances, and ids renamed to their place in the order (so two runs compare equal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger import chart
from ledger.models import Account
from ledger.selectors import account_balance


def escrow_balances() -> dict[str, tuple[int, int, int, int]]:
    """(debits pending, debits posted, credits pending, credits posted) of escrow and the card
    processor's external account, by code."""
    out = {}
    for account in Account.objects.filter(code__in=[chart.ESCROW, chart.external("sandbox_card")]):
        b = account_balance(account.id)
        out[account.code] = (b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted)
    return out


def relative_names(payment, order, subs) -> tuple[dict[int, str], Callable[..., Any]]:
    """Sub-order ids as "<subN>", and `norm`, which renames the ids inside event data and API
    bodies (sub-orders, sellers, the payment and the order) by their key."""
    subs_named = {sub.id: f"<sub{i}>" for i, sub in enumerate(subs)}
    sellers_named = {sub.seller_id: f"<seller{i}>" for i, sub in enumerate(subs)}
    uuids_named = {str(payment.id): "<payment>", str(order.id): "<order>"}
    by_key = {
        "id": subs_named,
        "sub_order": subs_named,
        "seller": sellers_named,
        "seller_id": sellers_named,
        "payment_id": uuids_named,
        "order_id": uuids_named,
        "order": uuids_named,
    }

    def norm(value, key=None):
        if isinstance(value, dict):
            return {k: norm(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v, key) for v in value]
        if key in by_key:
            assert value in by_key[key], (key, value)
            return by_key[key][value]
        return value

    return subs_named, norm
