"""Admin for storefront models: carts and checkout sessions (read-mostly: services change state)."""

from django.contrib import admin

from core.admin_base import money_column
from payments.checkout.models import Cart, CartItem
from payments.orders.models import CheckoutSession


class CartItemInline(admin.TabularInline):
    model = CartItem
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    list_display = ["user", "updated_at"]
    search_fields = ["user__email"]
    raw_id_fields = ["user"]
    inlines = [CartItemInline]


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "seller",
        "status",
        money_column("amount_total_minor", label="Total"),
        "expires_at",
        "created_at",
    ]
    list_filter = ["status", "currency"]
    search_fields = ["id", "seller__email", "client_reference_id", "customer_email"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "seller",
        "currency",
        "line_items",
        "amount_total_minor",
        "success_url",
        "cancel_url",
        "metadata",
        "client_reference_id",
        "customer_email",
        "status",
        "expires_at",
        "order",
        "completed_at",
        "expired_at",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
