"""Admin for products: staff may correct a listing's words or take it off sale; its price,
currency and stock are read-only here (stock moves under row locks through the catalogue's and
the orders' services, and a price is the seller's)."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import money_column
from payments.catalog.models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "seller",
        money_column("price_minor", label="Price"),
        "stock",
        "is_active",
        "created_at",
    ]
    list_filter = ["is_active", "currency"]
    search_fields = ["title", "seller__email"]
    list_select_related = ["seller"]
    fields = [
        "seller",
        "title",
        "description",
        "price_minor",
        "currency",
        "stock",
        "image",
        "is_active",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["seller", "price_minor", "currency", "stock", "created_at", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False  # sellers list products (pages, API), staff do not

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # orders keep their products: retire with is_active instead
