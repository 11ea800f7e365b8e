"""Orders: one checkout makes one Order with a SubOrder per seller (split payment), its lines, the
order's event log (OrderEvent) and the hosted Checkout Session that may have made it.

One Payment (payments.flows.models) pays the whole Order; its ledger holds are per SubOrder so that
each seller's acceptance can capture its own part. Amounts are integer minor units with an ISO 4217
currency.

The CheckoutSession model lives here, not in payments.checkout, because the order's own transitions
take its row lock first (lock order CheckoutSession -> Order -> Product: order expiry here, the
paid transition in payments_authorize); the sessions' services, API and pages are checkout's.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from payments.catalog.models import Product


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
    # What this seller sees of the order's buyer (payments.orders.buyer_reference), kept so that
    # the seller's list finds one buyer's orders through an index.
    buyer_reference = models.CharField(max_length=40, blank=True, default="")
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
        verbose_name = "sub-order"
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="suborder_amount_positive"
            ),
            models.UniqueConstraint(fields=["order", "seller"], name="suborder_one_per_seller"),
        ]
        indexes = [
            models.Index(fields=["seller", "-created_at"], name="suborder_seller_recent"),
            # The seller's list filtered by state, newest first (a rare state is not looked for
            # through the whole history).
            models.Index(
                fields=["seller", "status", "-created_at"], name="suborder_seller_status_recent"
            ),
            models.Index(
                fields=["seller", "buyer_reference", "-created_at"],
                name="suborder_seller_buyer_recent",
            ),
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

    def __str__(self) -> str:
        return f"{self.quantity} x {self.title}"


class OrderEvent(models.Model):
    order = models.ForeignKey("payments.Order", on_delete=models.PROTECT, related_name="events")
    # None: the event concerns the whole order (payment.authorized, payment.failed) and so every
    # seller of the order.
    sub_order = models.ForeignKey(
        "payments.SubOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
    )
    # A webhook event type ("order.accepted", "refund.succeeded", ...) from order_events.EVENT_TYPES.
    kind = models.CharField(max_length=64)
    actor = models.CharField(
        max_length=64, help_text="buyer:<id>, seller:<id>, staff:<id>, system, provider:<name>"
    )
    # The event's public payload (what webhooks carry): ids, amounts, statuses. Never a PAN/CVC.
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Set by the dispatcher once webhooks and emails for this event have been fanned out, so the
    # sweeper can re-drive events whose dispatch message was lost.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Set by the outbox relay (payments.orders.event_relay, settings.ORDER_EVENTS_RELAY) when it has
    # handed the event to a dispatch task; NULL and undispatched = waiting for the relay.
    relayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["order", "created_at"], name="orderevent_order_time"),
            models.Index(
                fields=["created_at"],
                name="orderevent_undispatched",
                condition=models.Q(dispatched_at__isnull=True),
            ),
            models.Index(
                fields=["id"],
                name="orderevent_unrelayed",
                condition=models.Q(relayed_at__isnull=True, dispatched_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.order_id})"


# One line never asks for more than this many units (a typo guard; stock is the real limit).
MAX_QUANTITY_PER_LINE = 100

# A cart or a checkout session holds at most this many lines.
MAX_LINES = 50


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
