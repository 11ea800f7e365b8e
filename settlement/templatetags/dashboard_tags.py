"""Template helpers for the seller's dashboard: money in the seller's locale."""

from __future__ import annotations

from django import template

from accounts.money_format import DEFAULT_LOCALE, format_money

register = template.Library()


@register.simple_tag(takes_context=True)
def money(context: template.Context, amount_minor: int | None, currency: str | None) -> str:
    """`{% money amount_minor currency %}`: "1.234,56 €" in the page's `money_locale`."""
    if amount_minor is None or not currency:
        return ""
    locale = str(context.get("money_locale", DEFAULT_LOCALE))  # the context processor's is lazy
    return format_money(int(amount_minor), currency, locale)


@register.filter
def words(value: object) -> str:
    """`{{ "reserve_released"|words }}` -> "Reserve released" (a code shown as words)."""
    return str(value or "").replace("_", " ").capitalize()
