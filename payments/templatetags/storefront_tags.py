"""Template helpers for the storefront: money formatting and status badges."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def money(amount_minor: int | None, currency: str) -> str:
    """`{{ amount_minor|money:currency }}` -> "€12.50" (core.money, never float)."""
    if amount_minor is None or not currency:
        return ""
    from core.money import Money

    return Money(int(amount_minor), currency).format("en")


@register.filter
def minor_to_decimal_text(amount_minor: int | None, currency: str) -> str:
    """Minor units as the plain decimal a seller typed (1250 EUR -> "12.50"), for edit forms."""
    if amount_minor is None or not currency:
        return ""
    from core.money import currency_exponent

    exponent = currency_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(int(amount_minor)), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}" if exponent else f"{sign}{whole}"
