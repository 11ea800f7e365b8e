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

from settlement.balances.selectors import seller_balances
from settlement.release.selectors import SellerPartMoney, seller_part_money, seller_parts_money

register = template.Library()


@register.inclusion_tag("seller/_balances.html")
def seller_balances_panel(seller: Any) -> dict:
    """The seller's balances per currency (settlement.balances.selectors.seller_balances)."""
    return {"balances": seller_balances(seller_id=seller.pk)}


@register.simple_tag
def seller_parts_money_of(sub_orders: Any) -> dict[int, SellerPartMoney]:
    """{% seller_parts_money_of page.object_list as parts %}: fee, net and when available, per
    sub-order (settlement.release.selectors)."""
    return seller_parts_money(list(sub_orders))


@register.filter
def part_of(parts: dict, sub_order_id: int) -> SellerPartMoney | None:
    return parts.get(sub_order_id)


@register.inclusion_tag("seller/_part_money.html")
def seller_part_money_panel(sub_order: Any) -> dict:
    """The money panel of one seller order: captured, refunded, fee, net, when available."""
    return {"part": seller_part_money(sub_order), "sub_order": sub_order}
