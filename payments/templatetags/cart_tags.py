"""The nav's cart link: {% load cart_tags %}{% cart_count as units %} (its own library, so the
lower layers that load storefront_tags do not import the checkout)."""

from __future__ import annotations

from django import template

from payments.checkout.cart import cart_item_count

register = template.Library()


@register.simple_tag(takes_context=True)
def cart_count(context) -> int:
    request = context.get("request")
    return cart_item_count(request=request) if request is not None else 0
