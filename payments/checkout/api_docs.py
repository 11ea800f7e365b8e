"""The typed shapes of the orders and checkout sessions API, for /api/schema/ only.

The views build their JSON by hand (payments/checkout/api.py: the hot paths skip serializers);
these serializers describe it field by field, and the schema test (tests/api/schema_contract.py)
validates every answer the test suite gets against them, so the two cannot drift apart.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from payments.flows.models import PaymentMethod, PaymentStatus
from payments.orders.api_docs import (
    ADDRESS_EXAMPLE,
    NOW,
    ORDER_ID,
    PAYMENT_ID,
    OrderLineSerializer,
    ShippingAddressOutSerializer,
    ShippingAddressSerializer,
    metadata_field,
)
from payments.orders.models import CheckoutSessionStatus, OrderStatus, SubOrderStatus

SESSION_ID = "b7e1d2c3-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
# What checkout_session_payment_status answers.
SESSION_PAYMENT_STATUSES = ["unpaid", "processing", "paid", "failed"]


class OrderSubOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    seller_id = serializers.IntegerField(read_only=True)
    status = serializers.ChoiceField(SubOrderStatus.choices, read_only=True)
    amount_minor = serializers.IntegerField(read_only=True)
    currency = serializers.CharField(read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)


class OrderPaymentSerializer(serializers.Serializer):
    """The order's latest payment, in short (GET /api/v1/payments/{id} has all of it)."""

    id = serializers.UUIDField(read_only=True)
    method = serializers.ChoiceField(PaymentMethod.choices, read_only=True)
    status = serializers.ChoiceField(PaymentStatus.choices, read_only=True)
    amount_minor = serializers.IntegerField(read_only=True)
    currency = serializers.CharField(read_only=True)
    failure_code = serializers.CharField(read_only=True, allow_null=True)
    failure_message = serializers.CharField(read_only=True, allow_null=True)


class OrderSerializer(serializers.Serializer):
    """An order. A seller sees only its own sub-orders and their total, without `payment` and
    `metadata`; the buyer and staff see the whole order."""

    id = serializers.UUIDField(read_only=True)
    object = serializers.ChoiceField(["order"], read_only=True)
    number = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(OrderStatus.choices, read_only=True)
    currency = serializers.CharField(read_only=True)
    total_minor = serializers.IntegerField(read_only=True)
    buyer_email = serializers.CharField(read_only=True)
    shipping_address = ShippingAddressOutSerializer(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    sub_orders = OrderSubOrderSerializer(many=True, read_only=True)
    payment = OrderPaymentSerializer(required=False, allow_null=True)
    metadata = metadata_field(required=False)


class OrderItemSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1)


class OrderCreateSerializer(serializers.Serializer):
    items = OrderItemSerializer(
        many=True, help_text="Products and quantities; prices come from the catalogue."
    )
    shipping_address = ShippingAddressSerializer()
    metadata = metadata_field(required=False)


class SessionLineItemSerializer(serializers.Serializer):
    """Either a catalogue product (product_id and quantity) or an ad-hoc line (name,
    unit_amount_minor and quantity)."""

    product_id = serializers.IntegerField(min_value=1, required=False)
    name = serializers.CharField(max_length=200, required=False)
    unit_amount_minor = serializers.IntegerField(min_value=1, required=False)
    quantity = serializers.IntegerField(min_value=1)


class SessionLineItemOutSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(read_only=True, allow_null=True)
    name = serializers.CharField(read_only=True)
    unit_amount_minor = serializers.IntegerField(read_only=True)
    quantity = serializers.IntegerField(read_only=True)
    amount_minor = serializers.IntegerField(read_only=True)


class CheckoutSessionCreateSerializer(serializers.Serializer):
    line_items = SessionLineItemSerializer(many=True)
    currency = serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217, e.g. EUR.")
    success_url = serializers.URLField(max_length=2000)
    cancel_url = serializers.URLField(max_length=2000)
    metadata = metadata_field(required=False)
    expires_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601 with a time zone; default and at most 24 h ahead."
    )
    client_reference_id = serializers.CharField(max_length=200, required=False)
    customer_email = serializers.EmailField(required=False)


class SessionOrderSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    number = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(OrderStatus.choices, read_only=True)


class CheckoutSessionSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    object = serializers.ChoiceField(["checkout.session"], read_only=True)
    url = serializers.URLField(read_only=True, help_text="Send the buyer here to pay.")
    status = serializers.ChoiceField(CheckoutSessionStatus.choices, read_only=True)
    payment_status = serializers.ChoiceField(
        SESSION_PAYMENT_STATUSES,
        read_only=True,
        help_text="What a shop needs to decide whether to ship: ship on `paid`.",
    )
    currency = serializers.CharField(read_only=True)
    amount_total_minor = serializers.IntegerField(read_only=True)
    line_items = SessionLineItemOutSerializer(many=True, read_only=True)
    success_url = serializers.CharField(read_only=True)
    cancel_url = serializers.CharField(read_only=True)
    metadata = metadata_field(read_only=True)
    client_reference_id = serializers.CharField(read_only=True, allow_null=True)
    customer_email = serializers.CharField(read_only=True, allow_null=True)
    expires_at = serializers.DateTimeField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    completed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    order = SessionOrderSerializer(read_only=True, allow_null=True)
    payment = OrderPaymentSerializer(read_only=True, allow_null=True)


ORDER_EXAMPLE = {
    "id": ORDER_ID,
    "object": "order",
    "number": "CH-7K2M9Q",
    "status": "paid",
    "currency": "EUR",
    "total_minor": 4500,
    "buyer_email": "ada@example.com",
    "shipping_address": ADDRESS_EXAMPLE,
    "expires_at": None,
    "created_at": NOW,
    "sub_orders": [
        {
            "id": 41,
            "seller_id": 7,
            "status": "awaiting_acceptance",
            "amount_minor": 4500,
            "currency": "EUR",
            "lines": [
                {
                    "product_id": 12,
                    "title": "Linen apron",
                    "unit_price_minor": 2250,
                    "quantity": 2,
                    "amount_minor": 4500,
                }
            ],
        }
    ],
    "payment": {
        "id": PAYMENT_ID,
        "method": "card",
        "status": "authorized",
        "amount_minor": 4500,
        "currency": "EUR",
        "failure_code": None,
        "failure_message": None,
    },
    "metadata": {"cart": "c-1029"},
}

ORDER_EXAMPLES = [OpenApiExample("An order paid by card", value=ORDER_EXAMPLE, response_only=True)]
ORDER_CREATE_EXAMPLES = [
    OpenApiExample(
        "Two aprons to Berlin",
        value={
            "items": [{"product_id": 12, "quantity": 2}],
            "shipping_address": ADDRESS_EXAMPLE,
            "metadata": {"cart": "c-1029"},
        },
        request_only=True,
    ),
    OpenApiExample(
        "The order, placed",
        value={**ORDER_EXAMPLE, "status": "awaiting_payment", "payment": None},
        response_only=True,
        status_codes=["201"],
    ),
]

SESSION_EXAMPLE = {
    "id": SESSION_ID,
    "object": "checkout.session",
    "url": f"https://clearhouse.example/checkout/s/{SESSION_ID}/",
    "status": "open",
    "payment_status": "unpaid",
    "currency": "EUR",
    "amount_total_minor": 2250,
    "line_items": [
        {
            "product_id": None,
            "name": "Gift wrapping",
            "unit_amount_minor": 250,
            "quantity": 1,
            "amount_minor": 250,
        },
        {
            "product_id": 12,
            "name": "Linen apron",
            "unit_amount_minor": 2000,
            "quantity": 1,
            "amount_minor": 2000,
        },
    ],
    "success_url": "https://shop.example/thanks",
    "cancel_url": "https://shop.example/cart",
    "metadata": {},
    "client_reference_id": "cart-1029",
    "customer_email": None,
    "expires_at": "2026-12-08T13:40:01Z",
    "created_at": NOW,
    "completed_at": None,
    "order": None,
    "payment": None,
}
SESSION_EXAMPLES = [
    OpenApiExample("An open session", value=SESSION_EXAMPLE, response_only=True),
]
SESSION_CREATE_EXAMPLES = [
    OpenApiExample(
        "A product and an ad-hoc line",
        value={
            "currency": "EUR",
            "line_items": [
                {"name": "Gift wrapping", "unit_amount_minor": 250, "quantity": 1},
                {"product_id": 12, "quantity": 1},
            ],
            "success_url": "https://shop.example/thanks",
            "cancel_url": "https://shop.example/cart",
            "client_reference_id": "cart-1029",
        },
        request_only=True,
    ),
    OpenApiExample("The session", value=SESSION_EXAMPLE, response_only=True, status_codes=["201"]),
]
