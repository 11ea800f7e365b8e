"""Orders and payments: the shared schema (storefront side and payment side extend it).

One checkout makes one Order with a SubOrder per seller (split payment). One Payment pays the whole
Order; its ledger holds are per SubOrder so that each seller's acceptance can capture its own part.
Amounts are integer minor units with an ISO 4217 currency.
"""

from __future__ import annotations

import uuid

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


class OrderStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
    PAID = "paid", "Paid (held in escrow)"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Short human reference shown on pages and receipts.
    number = models.CharField(max_length=20, unique=True)
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    buyer_email = models.EmailField()
    currency = models.CharField(max_length=3)
    total_minor = models.BigIntegerField()
    status = models.CharField(
        max_length=32, choices=OrderStatus.choices, default=OrderStatus.AWAITING_PAYMENT
    )
    shipping_address = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Unpaid orders release their stock after this time.
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Storefront side: True while the order holds units of its products' stock. Reserving and
    # releasing flip it under the order's row lock, so a release happens at most once per reservation.
    stock_reserved = models.BooleanField(default=False)
    # The checkout form's one-time token: a resubmitted form finds its order instead of making another.
    checkout_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    # Why the last payment failed, in words for the buyer (the Payment keeps the codes).
    payment_failure_reason = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(total_minor__gt=0), name="order_total_positive"),
        ]
        indexes = [models.Index(fields=["buyer", "-created_at"], name="order_buyer_recent")]

    def __str__(self) -> str:
        return self.number


class SubOrderStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
    AWAITING_ACCEPTANCE = "awaiting_acceptance", "Paid, awaiting seller"
    ACCEPTED = "accepted", "Accepted by seller"
    REJECTED = "rejected", "Rejected by seller"
    SHIPPED = "shipped", "Shipped"
    CONFIRMED = "confirmed", "Receipt confirmed"
    DISPUTED = "disputed", "Disputed"
    REFUNDED = "refunded", "Refunded"
    CANCELLED = "cancelled", "Cancelled"


class SubOrder(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="sub_orders")
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sub_orders"
    )
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=32, choices=SubOrderStatus.choices, default=SubOrderStatus.AWAITING_PAYMENT
    )
    # The pending ledger transfer that holds this sub-order's money in escrow.
    escrow_transfer_id = models.UUIDField(null=True, blank=True)
    # --- lifecycle (issue 5) ---
    # The seller must accept or reject by this time, else the order is released (beat task).
    accept_by = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    # Base64 signature over the sealed canonical order document, and the key that made it.
    acceptance_signature = models.TextField(blank=True, default="")
    acceptance_key = models.ForeignKey(
        "accounts.SellerKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accepted_sub_orders",
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=255, blank=True, default="")
    shipped_at = models.DateTimeField(null=True, blank=True)
    # Receipt is confirmed automatically at this time unless the buyer confirms or disputes first;
    # a dispute clears it (the clock stops).
    confirm_by = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # What was captured of this sub-order's hold (set when the hold is posted); refunds are
    # bounded by it.
    captured_minor = models.BigIntegerField(default=0)
    # The platform fee taken when escrow was released to the seller (minor units).
    fee_minor = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="suborder_amount_positive"
            ),
            models.UniqueConstraint(fields=["order", "seller"], name="suborder_one_per_seller"),
        ]
        indexes = [
            models.Index(fields=["seller", "-created_at"], name="suborder_seller_recent"),
            # The beat tasks' scans: acceptance window and auto-confirm window.
            models.Index(
                fields=["accept_by"],
                name="suborder_accept_due",
                condition=Q(status="awaiting_acceptance"),
            ),
            models.Index(
                fields=["confirm_by"], name="suborder_confirm_due", condition=Q(status="shipped")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order.number}/{self.seller_id}"


class OrderLine(models.Model):
    sub_order = models.ForeignKey(SubOrder, on_delete=models.PROTECT, related_name="lines")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(max_length=200)
    unit_price_minor = models.BigIntegerField()
    quantity = models.PositiveIntegerField()
    amount_minor = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_positive"),
            models.CheckConstraint(
                condition=Q(unit_price_minor__gt=0), name="orderline_price_positive"
            ),
        ]


class PaymentMethod(models.TextChoices):
    CARD = "card", "Card"
    WALLET = "wallet", "Wallet"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"


class PaymentStatus(models.TextChoices):
    CREATED = "created", "Created"
    REQUIRES_ACTION = "requires_action", "Requires action"  # 3-D Secure, wallet approval
    AWAITING_TRANSFER = "awaiting_transfer", "Awaiting bank transfer"
    AUTHORIZED = "authorized", "Authorized"
    CAPTURED = "captured", "Captured"
    FAILED = "failed", "Failed"
    VOIDED = "voided", "Voided"
    EXPIRED = "expired", "Expired"


class Payment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    provider = models.CharField(max_length=32)
    status = models.CharField(
        max_length=32, choices=PaymentStatus.choices, default=PaymentStatus.CREATED
    )
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # The provider's id for this payment; unique per provider.
    provider_reference = models.CharField(max_length=128, blank=True, default="")
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # --- Payment side (branch `payments`) ---
    # What the buyer may see again: card token/brand/last4/expiry, wallet name, return URL. Never a
    # PAN or a CVC.
    details = models.JSONField(default=dict, blank=True)
    vaulted_card = models.ForeignKey(
        "payments.VaultedCard",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    # ISO 11649 creditor reference the buyer quotes on a bank transfer.
    bank_reference = models.CharField(max_length=35, null=True, blank=True, unique=True)
    # Bank transfer: expires unpaid after this; 3-D Secure / wallet: the challenge lapses.
    expires_at = models.DateTimeField(null=True, blank=True)
    captured_minor = models.BigIntegerField(default=0)
    # Calls made to the provider to authorise (retries of retryable errors included).
    provider_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
            models.UniqueConstraint(
                fields=["provider", "provider_reference"],
                condition=~Q(provider_reference=""),
                name="payment_provider_reference_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.amount_minor} {self.currency} ({self.status})"


class PaymentEvent(models.Model):
    """One row per state change: who, when, from, to, why. Append-only."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=32)
    to_status = models.CharField(max_length=32)
    actor = models.CharField(
        max_length=64, help_text="buyer:<id>, seller:<id>, staff:<id>, system, provider:<name>"
    )
    reason = models.CharField(max_length=255, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


# Payment-side models (vault, wallet notifications, bank arrivals, sandbox processors) live in
# their own module; importing them here registers them with the app.
# The lifecycle's event log (timeline, webhooks, emails).
from payments.lifecycle_models import *  # noqa: E402, F403

# The sealed order document the seller signs to accept (issue 5, `accept`).
from payments.order_document_models import *  # noqa: E402, F403
from payments.payment_models import *  # noqa: E402, F403

# Refunds and disputes (the release side of the lifecycle).
from payments.refund_models import *  # noqa: E402, F403

# Storefront models (carts, checkout sessions) live in their own module; imported here so that
# Django registers them with the payments app.
from payments.storefront_models import *  # noqa: E402, F403

# Outgoing webhooks and the lifecycle's email log.
from payments.webhook_models import *  # noqa: E402, F403
