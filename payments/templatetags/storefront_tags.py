"""Template helpers for the storefront: money formatting and status badges."""

from __future__ import annotations

from django import template

from core.money import Money

register = template.Library()


@register.filter
def money(amount_minor: int | None, currency: str) -> str:
    """`{{ amount_minor|money:currency }}` -> "€12.50" (core.money, never float)."""
    if amount_minor is None or not currency:
        return ""
    return Money(int(amount_minor), currency).format("en")
