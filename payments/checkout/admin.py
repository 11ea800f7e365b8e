"""Admin for storefront models: carts and checkout sessions (read-mostly: services change state)."""

from django.contrib import admin

from core.admin_base import change_link, money_column
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
    list_select_related = ["user"]
    date_hierarchy = "updated_at"
    ordering = ["-updated_at"]


@admin.register(CartItem)
class CartItemAdmin(admin.ModelAdmin):
    """Items in signed-in buyers' carts (no price: checkout reads the product's)."""

    list_display = ["id", "cart", "product", "quantity", "added_at"]
    search_fields = ["cart__user__email", "product__title"]
    list_select_related = ["cart", "product"]
    date_hierarchy = "added_at"
    ordering = ["-added_at", "-id"]
    raw_id_fields = ["cart", "product"]
    readonly_fields = ["cart_link", "added_at"]

    @admin.display(description="cart")
    def cart_link(self, obj: CartItem) -> str:
        return change_link(obj.cart)


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
    list_select_related = ["seller"]
    ordering = ["-created_at"]
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
