"""The catalogue: a seller's products and their stock.

Amounts are integer minor units with an ISO 4217 currency.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Product(models.Model):
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="products"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # Units that can still be reserved; a reservation decrements it under a row lock.
    stock = models.IntegerField(default=0)
    image = models.FileField(upload_to="products/", blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(price_minor__gt=0), name="product_price_positive"),
            models.CheckConstraint(condition=Q(stock__gte=0), name="product_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return self.title
