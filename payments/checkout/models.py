"""Checkout: a signed-in buyer's cart.

Guests keep their cart in the session (payments/checkout/cart.py); it moves into the Cart model
when they sign in. The hosted Checkout Session is payments.orders.models.CheckoutSession.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from payments.catalog.models import Product
from payments.orders.models import MAX_QUANTITY_PER_LINE


class Cart(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cart"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"cart of user {self.user_id}"


class CartItem(models.Model):
    """A product and how many units. No price: prices are read from the product at checkout."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "product"], name="cartitem_one_per_product"),
            models.CheckConstraint(
                condition=Q(quantity__gt=0) & Q(quantity__lte=MAX_QUANTITY_PER_LINE),
                name="cartitem_quantity_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id}"
