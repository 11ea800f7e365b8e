"""Settlement's parts of pages other apps render.

    {% load settlement_tags %}{% seller_balances_panel request.user %}
    {% seller_parts_money_of page.object_list as parts %}   (then parts|part_of:sub_order.pk)
    {% seller_part_money_panel sub_order %}

The seller's orders page (payments) shows the seller's balances without payments importing
settlement: the template asks for the panel by name.
"""

from __future__ import annotations

from typing import Any

from django import template

from accounts.money_format import DEFAULT_LOCALE
from settlement.balances.selectors import seller_balances
from settlement.release.selectors import SellerPartMoney, seller_part_money, seller_parts_money

register = template.Library()


@register.inclusion_tag("seller/_balances.html", takes_context=True)
def seller_balances_panel(context: template.Context, seller: Any) -> dict:
    """The seller's balances per currency (settlement.balances.selectors.seller_balances), in
    the page's `money_locale`, as the rest of the seller's pages write amounts."""
    return {
        "balances": seller_balances(seller_id=seller.pk),
        "money_locale": context.get("money_locale", DEFAULT_LOCALE),
    }


@register.inclusion_tag("confirmations/_panel.html", takes_context=True)
def acknowledgements_panel(context: template.Context, user: Any, order: Any = None) -> dict:
    """What waits on `user` (settlement.confirmations): on an order page, the buyer's
    acknowledgements of that order and its receipts (page, PDF, signed JSON); elsewhere (the
    seller's payouts page), the seller's payouts to acknowledge."""
    from settlement.confirmations.services import waiting_on
    from settlement.confirmations.views import forms_for
    from settlement.receipts.facts import is_receiptable
    from settlement.receipts.services import visible_sub_orders

    if not getattr(user, "is_authenticated", False):
        return {"rows": [], "receipts": []}
    rows = waiting_on(user)
    receipts: list = []
    if order is not None:
        rows = rows.filter(side="buyer", sub_order__order_id=order.pk)
        receipts = [s for s in visible_sub_orders(user, order.pk) if is_receiptable(s)]
    else:
        rows = rows.filter(side="seller")
        if getattr(user, "role", None) != "seller":
            rows = rows.none()
    request = context.get("request")
    return {
        "rows": [forms_for(ack) for ack in rows.order_by("due_at", "id")[:20]],
        "receipts": receipts,
        "next": request.get_full_path() if request is not None else None,
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }


@register.simple_tag
def seller_parts_money_of(sub_orders: Any) -> dict[int, SellerPartMoney]:
    """{% seller_parts_money_of page.object_list as parts %}: fee, net and when available, per
    sub-order (settlement.release.selectors)."""
    return seller_parts_money(list(sub_orders))


@register.filter
def part_of(parts: dict, sub_order_id: int) -> SellerPartMoney | None:
    return parts.get(sub_order_id)


@register.inclusion_tag("seller/_part_money.html", takes_context=True)
def seller_part_money_panel(context: template.Context, sub_order: Any) -> dict:
    """The money panel of one seller order: captured, refunded, fee, net, when available."""
    return {
        "part": seller_part_money(sub_order),
        "sub_order": sub_order,
        "money_locale": context.get("money_locale", DEFAULT_LOCALE),
    }
