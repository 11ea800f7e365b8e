"""Bases for admin pages that show and never write: money, logs and records change only through
their services, never by hand in the admin."""

from __future__ import annotations

from django.contrib import admin

from core.money import Money


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows of a record's log shown under it; every listed field read-only."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields or ()

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def money_column(amount_field: str, *, label: str, currency_field: str = "currency"):
    """A list column showing `amount_field` (minor units) as money in its currency, "€12.50";
    sorts by the amount. An empty amount (a fee not charged yet) shows "—"."""

    @admin.display(description=label, ordering=amount_field)
    def column(obj) -> str:
        amount = getattr(obj, amount_field)
        if amount is None:
            return "—"
        return Money(amount, getattr(obj, currency_field)).format("en")

    column.__name__ = f"{amount_field}_money"
    return column
