"""Shapes the orders' API documents share (payments/checkout, payments/fulfilment api_docs):
the order line, the shipping address, metadata, and the examples' fixed values."""

from __future__ import annotations

from rest_framework import serializers

ORDER_ID = "3f0c8f4e-6a43-4c1e-9a53-4b1d2f6d9e21"
PAYMENT_ID = "8d4f6c2a-1b7e-4f0a-9c3d-5e6f7a8b9c0d"
NOW = "2026-12-07T13:40:01.303587Z"


def metadata_field(**kwargs) -> serializers.DictField:
    return serializers.DictField(
        child=serializers.CharField(max_length=500),
        help_text="Up to 20 string keys (at most 40 characters) with string values (at most "
        "500 characters), kept as given.",
        **kwargs,
    )


class ShippingAddressSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False)
    city = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20)
    country = serializers.CharField(
        min_length=2, max_length=2, help_text="ISO 3166-1 alpha-2, e.g. DE."
    )
    phone = serializers.CharField(max_length=40, required=False)


class ShippingAddressOutSerializer(serializers.Serializer):
    """As kept: an order placed through a checkout session may have none (an empty object)."""

    name = serializers.CharField(required=False)
    line1 = serializers.CharField(required=False)
    line2 = serializers.CharField(required=False)
    city = serializers.CharField(required=False)
    postal_code = serializers.CharField(required=False)
    country = serializers.CharField(required=False)
    phone = serializers.CharField(required=False)


class OrderLineSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(read_only=True, allow_null=True)
    title = serializers.CharField(read_only=True)
    unit_price_minor = serializers.IntegerField(read_only=True)
    quantity = serializers.IntegerField(read_only=True)
    amount_minor = serializers.IntegerField(read_only=True)


ADDRESS_EXAMPLE = {
    "name": "Ada Buyer",
    "line1": "1 Example Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
