"""Bases for admin pages that show and never write: money, logs and records change only through
their services, never by hand in the admin."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

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
    sorts by the amount. An empty amount (a fee not charged yet) shows "—". `currency_field` may
    follow relations ("account__currency"; select them with list_select_related). Usable in
    list_display, and as an admin's attribute named in readonly_fields (`total = money_column(...)`)."""

    @admin.display(description=label, ordering=amount_field)
    def column(*args) -> str:
        obj = args[-1]  # (obj) in list_display; (admin, obj) as a class attribute's method
        amount = getattr(obj, amount_field)
        if amount is None:
            return "—"
        currency = obj
        for name in currency_field.split("__"):  # "account__currency": the row's account's
            currency = getattr(currency, name)
        return Money(amount, currency).format("en")

    column.__name__ = f"{amount_field}_money"
    return column


MASK = "••••"


def mask_iban(value: str | None) -> str:
    """An IBAN (or any account number) as staff lists show it: its first four characters (country
    and check digits) and its last four, "DE89 •••• 3000"; a short one shows its last four only.
    Blank shows "—"."""
    compact = "".join((value or "").split()).upper()
    if not compact:
        return "—"
    if len(compact) <= 8:
        return f"{MASK} {compact[-4:]}"
    return f"{compact[:4]} {MASK} {compact[-4:]}"


def masked_column(field: str, *, label: str):
    """A list column (or read-only field) showing `field` masked by mask_iban."""

    @admin.display(description=label)
    def column(*args) -> str:
        return mask_iban(getattr(args[-1], field))

    column.__name__ = f"{field}_masked"
    return column


def admin_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def change_link(obj, text: str | None = None) -> str:
    """A link to `obj`'s admin page ("—" for none)."""
    if obj is None:
        return "—"
    return format_html('<a href="{}">{}</a>', admin_url(obj), text or str(obj))


# A ledger transfer's reference is "<kind>:<id>" (sub_order:…, payout:…). Each app names the admin
# page of its own kinds here, from its admin module: the ledger's admin links to them without
# importing the apps above it.
_REFERENCE_PAGES: dict[str, str] = {}


def name_reference_page(kind: str, view: str) -> None:
    """References "<kind>:<id>" open the admin page of <id> in `view` ("<app>_<model>")."""
    _REFERENCE_PAGES[kind] = view


def reference_link(reference: str) -> str:
    """A link to the page of what a reference names; the reference as text if none is named."""
    kind, _, key = reference.partition(":")
    view = _REFERENCE_PAGES.get(kind)
    if view is None or not key:
        return reference or "—"
    try:
        url = reverse(f"admin:{view}_change", args=[key])
    except NoReverseMatch:
        return reference
    return format_html('<a href="{}">{}</a>', url, reference)


def changelist_link(view: str, params: dict, text: str) -> str:
    """A link to a changelist filtered by `params`, e.g. changelist_link("ledger_transfer",
    {"reference__in": "a,b"}, "transfers"). `view` is "<app>_<model>"."""
    url = reverse(f"admin:{view}_changelist") + "?" + urlencode(params)
    return format_html('<a href="{}">{}</a>', url, text)
