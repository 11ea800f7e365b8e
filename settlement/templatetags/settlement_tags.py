"""Settlement's parts of pages other apps render.

    {% load settlement_tags %}{% seller_balances_panel request.user %}

The seller's orders page (payments) shows the seller's balances without payments importing
settlement: the template asks for the panel by name.
"""

from __future__ import annotations

from typing import Any

from django import template

from settlement.balances.selectors import seller_balances

register = template.Library()


@register.inclusion_tag("seller/_balances.html")
def seller_balances_panel(seller: Any) -> dict:
    """The seller's balances per currency (settlement.balances.selectors.seller_balances)."""
    return {"balances": seller_balances(seller_id=seller.pk)}
