"""The typed shapes of the seller orders, refunds, disputes and sub-order API, for /api/schema/ only.

The views build their JSON by hand (seller_api.py, buyer_api.py); these serializers describe it,
and the schema test validates every answer the test suite gets against them.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from payments.fulfilment.models import DisputeOutcome, DisputeStatus, RefundSource, RefundStatus
from payments.orders.api_docs import (
    ADDRESS_EXAMPLE,
    NOW,
    ORDER_ID,
    PAYMENT_ID,
    OrderLineSerializer,
    ShippingAddressOutSerializer,
)
from payments.orders.models import SubOrderStatus

REFUND_ID = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
KEY_ID = "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a"


class SellerOrderOrderSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    number = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class AcceptanceSerializer(serializers.Serializer):
    key_id = serializers.UUIDField(read_only=True)
    signature = serializers.CharField(read_only=True, help_text="Base64, as sent.")


class SealedDocumentSerializer(serializers.Serializer):
    version = serializers.IntegerField(read_only=True)
    sha256 = serializers.CharField(read_only=True, help_text="Hex SHA-256 of the document bytes.")
    key_id = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="The encryption key it is sealed to."
    )
    sealed = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Base64 of the sealed document (null until the seller has an encryption key).",
    )
    associated_data = serializers.CharField(read_only=True)
    sealed_at = serializers.DateTimeField(read_only=True, allow_null=True)


class SellerOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True, help_text="The sub-order's id.")
    object = serializers.ChoiceField(["seller_order"], read_only=True)
    order = SellerOrderOrderSerializer(read_only=True)
    status = serializers.ChoiceField(SubOrderStatus.choices, read_only=True)
    amount_minor = serializers.IntegerField(read_only=True)
    currency = serializers.CharField(read_only=True)
    captured_minor = serializers.IntegerField(read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)
    shipping_address = ShippingAddressOutSerializer(read_only=True)
    accept_by = serializers.DateTimeField(read_only=True, allow_null=True)
    accepted_at = serializers.DateTimeField(read_only=True, allow_null=True)
    acceptance = AcceptanceSerializer(read_only=True, allow_null=True)
    rejected_at = serializers.DateTimeField(read_only=True, allow_null=True)
    rejection_reason = serializers.CharField(read_only=True, allow_null=True)
    shipped_at = serializers.DateTimeField(read_only=True, allow_null=True)
    confirm_by = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    document = SealedDocumentSerializer(read_only=True, allow_null=True)


class SellerOrderAcceptSerializer(serializers.Serializer):
    key_id = serializers.UUIDField(help_text="One of your signing keys.")
    signature = serializers.CharField(
        help_text="Base64 of your signature over the order document's exact bytes."
    )
    algorithm = serializers.CharField(
        required=False, help_text="ed25519 or rsa-pss-sha256; must be the key's own."
    )


class SellerOrderRejectSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Shown to the buyer.")


class SellerOrderShipSerializer(serializers.Serializer):
    tracking = serializers.CharField(required=False, help_text="A tracking note for the buyer.")


class RefundSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    object = serializers.ChoiceField(["refund"], read_only=True)
    order_id = serializers.UUIDField(read_only=True)
    sub_order_id = serializers.IntegerField(read_only=True)
    payment_id = serializers.UUIDField(read_only=True)
    amount_minor = serializers.IntegerField(read_only=True)
    currency = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(RefundStatus.choices, read_only=True)
    source = serializers.ChoiceField(RefundSource.choices, read_only=True)
    reason = serializers.CharField(read_only=True)
    failure_code = serializers.CharField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class RefundCreateSerializer(serializers.Serializer):
    amount_minor = serializers.IntegerField(
        min_value=1, help_text="At most what was captured and not yet refunded."
    )
    reason = serializers.CharField(help_text="Shown to the buyer.")


class RefundListSerializer(serializers.Serializer):
    object = serializers.ChoiceField(["list"], read_only=True)
    data = RefundSerializer(many=True, read_only=True)


class DisputeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    object = serializers.ChoiceField(["dispute"], read_only=True)
    sub_order_id = serializers.IntegerField(read_only=True)
    status = serializers.ChoiceField(DisputeStatus.choices, read_only=True)
    outcome = serializers.ChoiceField(DisputeOutcome.choices, read_only=True, allow_null=True)
    reason = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    resolved_at = serializers.DateTimeField(read_only=True, allow_null=True)


class DisputeCreateSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="What went wrong, for the seller and staff.")


class SubOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    object = serializers.ChoiceField(["sub_order"], read_only=True)
    order_id = serializers.UUIDField(read_only=True)
    seller_id = serializers.IntegerField(read_only=True)
    status = serializers.ChoiceField(SubOrderStatus.choices, read_only=True)
    amount_minor = serializers.IntegerField(read_only=True)
    captured_minor = serializers.IntegerField(read_only=True)
    fee_minor = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The platform's fee, once escrow is released."
    )
    currency = serializers.CharField(read_only=True)
    confirm_by = serializers.DateTimeField(read_only=True, allow_null=True)
    confirmed_at = serializers.DateTimeField(read_only=True, allow_null=True)


SELLER_ORDER_EXAMPLE = {
    "id": 41,
    "object": "seller_order",
    "order": {"id": ORDER_ID, "number": "CH-7K2M9Q", "created_at": NOW},
    "status": "accepted",
    "amount_minor": 4500,
    "currency": "EUR",
    "captured_minor": 4500,
    "lines": [
        {
            "product_id": 12,
            "title": "Linen apron",
            "unit_price_minor": 2250,
            "quantity": 2,
            "amount_minor": 4500,
        }
    ],
    "shipping_address": ADDRESS_EXAMPLE,
    "accept_by": "2026-12-10T13:40:01Z",
    "accepted_at": NOW,
    "acceptance": {"key_id": KEY_ID, "signature": "MEUCIQ...base64..."},
    "rejected_at": None,
    "rejection_reason": None,
    "shipped_at": None,
    "confirm_by": None,
    "created_at": NOW,
    "document": {
        "version": 1,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "key_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        "sealed": "AQID...base64...",
        "associated_data": "clearhouse:order-document:41",
        "sealed_at": NOW,
    },
}
SELLER_ORDER_EXAMPLES = [
    OpenApiExample("An accepted order", value=SELLER_ORDER_EXAMPLE, response_only=True)
]

REFUND_EXAMPLE = {
    "id": REFUND_ID,
    "object": "refund",
    "order_id": ORDER_ID,
    "sub_order_id": 41,
    "payment_id": PAYMENT_ID,
    "amount_minor": 1500,
    "currency": "EUR",
    "status": "pending",
    "source": "escrow",
    "reason": "One apron arrived torn.",
    "failure_code": None,
    "created_at": NOW,
    "updated_at": NOW,
}
REFUND_EXAMPLES = [OpenApiExample("A partial refund", value=REFUND_EXAMPLE, response_only=True)]
REFUND_CREATE_EXAMPLES = [
    OpenApiExample(
        "Refund one apron's worth",
        value={"amount_minor": 1500, "reason": "One apron arrived torn."},
        request_only=True,
    ),
    OpenApiExample(
        "The refund, pending", value=REFUND_EXAMPLE, response_only=True, status_codes=["201"]
    ),
]
REFUND_LIST_EXAMPLES = [
    OpenApiExample(
        "The sub-order's refunds",
        value={"object": "list", "data": [REFUND_EXAMPLE]},
        response_only=True,
    )
]
DISPUTE_EXAMPLES = [
    OpenApiExample(
        "Not as described", value={"reason": "The aprons are cotton, not linen."}, request_only=True
    ),
    OpenApiExample(
        "The dispute, open",
        value={
            "id": 3,
            "object": "dispute",
            "sub_order_id": 41,
            "status": "open",
            "outcome": None,
            "reason": "The aprons are cotton, not linen.",
            "created_at": NOW,
            "resolved_at": None,
        },
        response_only=True,
        status_codes=["201"],
    ),
]
SUB_ORDER_EXAMPLES = [
    OpenApiExample(
        "Receipt confirmed: released to the seller",
        value={
            "id": 41,
            "object": "sub_order",
            "order_id": ORDER_ID,
            "seller_id": 7,
            "status": "confirmed",
            "amount_minor": 4500,
            "captured_minor": 4500,
            "fee_minor": 131,
            "currency": "EUR",
            "confirm_by": "2026-12-21T13:40:01Z",
            "confirmed_at": NOW,
        },
        response_only=True,
    )
]
ACCEPT_EXAMPLES = [
    OpenApiExample(
        "An Ed25519 signature",
        value={"key_id": KEY_ID, "signature": "MEUCIQ...base64...", "algorithm": "ed25519"},
        request_only=True,
    ),
    *SELLER_ORDER_EXAMPLES,
]
