"""Storefront models: a signed-in buyer's cart and the hosted Checkout Session for outside shops.

Imported at the bottom of payments/models.py so that they belong to the payments app. Guests keep
their cart in the session (see payments/cart.py); it moves into the Cart model when they sign in.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from payments.models import Order, Product

# One line never asks for more than this many units (a typo guard; stock is the real limit).
MAX_QUANTITY_PER_LINE = 100
# A cart or a checkout session holds at most this many lines.
MAX_LINES = 50

__all__ = [
    "MAX_LINES",
    "MAX_QUANTITY_PER_LINE",
    "Cart",
    "CartItem",
    "CheckoutSession",
    "CheckoutSessionStatus",
]


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


class CheckoutSessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETE = "complete", "Complete (paid)"
    EXPIRED = "expired", "Expired"


class CheckoutSession(models.Model):
    """A payment page hosted by Clearhouse for a seller's own shop (Stripe Checkout's model).

    The seller creates it through the API with line items and return URLs, sends the buyer to
    `/checkout/s/<id>/`, and reads it back later. The random UUID is the capability that lets an
    anonymous buyer open the page; the seller's API reads are scoped to the seller.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="checkout_sessions"
    )
    currency = models.CharField(max_length=3)
    # Normalised at creation and never changed: [{"name", "unit_amount_minor", "quantity",
    # "amount_minor", "product_id" (or null)}]. Product prices are copied from the database.
    line_items = models.JSONField()
    amount_total_minor = models.BigIntegerField()
    success_url = models.URLField(max_length=2000)
    cancel_url = models.URLField(max_length=2000)
    metadata = models.JSONField(default=dict, blank=True)
    client_reference_id = models.CharField(max_length=200, blank=True, default="")
    customer_email = models.EmailField(blank=True, default="")
    status = models.CharField(
        max_length=16, choices=CheckoutSessionStatus.choices, default=CheckoutSessionStatus.OPEN
    )
    expires_at = models.DateTimeField()
    # Made when the buyer submits the hosted page; reused when the buyer retries another method.
    order = models.OneToOneField(
        Order,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="checkout_session",
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_total_minor__gt=0), name="checkoutsession_amount_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["seller", "-created_at"], name="checkoutsession_seller_recent"),
            models.Index(
                fields=["expires_at"],
                condition=Q(status="open"),
                name="checkoutsession_open_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"checkout session {self.id} ({self.status})"
