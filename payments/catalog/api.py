"""The catalogue over the API, for integrators (/api/v1/products):

    GET    products                  the catalogue: active products, anyone (?seller=, ?currency=;
                                     ?mine=true: the calling seller's own, retired ones too)
    GET    products/<id>             one product (a retired one only to its seller)
    POST   products                  a seller lists a product, with its stock
    PATCH  products/<id>             a seller edits its own product (title, description, price,
                                     currency, is_active)
    POST   products/<id>/stock       {"change": n}: add (or, negative, remove) units, safely beside
                                     the reservations checkout makes
    DELETE products/<id>             retire it (is_active false; orders keep their lines)

Thin views over payments.catalog.services (the seller pages' own services); another seller's
product is 404. Prices are integer minor units.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticatedOrReadOnly
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CreatedCursorPagination
from core.api.parsers import StrictJSONParser
from core.errors import NotFound, ValidationError
from payments.catalog.models import Product
from payments.catalog.services import (
    parse_currency,
    product_adjust_stock,
    product_create,
    product_get_for_seller,
    product_update,
)


class SellersWrite(BasePermission):
    message = "Only sellers manage products."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or bool(request.user.is_seller)


class ProductSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    object = serializers.ChoiceField(["product"], read_only=True)
    seller_id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    price_minor = serializers.IntegerField(read_only=True)
    currency = serializers.CharField(read_only=True)
    stock = serializers.IntegerField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    image_url = serializers.CharField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class ProductCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False)
    price_minor = serializers.IntegerField(min_value=1, help_text="e.g. 1250 for €12.50")
    currency = serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217, e.g. EUR")
    stock = serializers.IntegerField(min_value=0, max_value=1_000_000)


class ProductUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False)
    price_minor = serializers.IntegerField(min_value=1, required=False)
    currency = serializers.CharField(min_length=3, max_length=3, required=False)
    is_active = serializers.BooleanField(required=False)


class StockChangeSerializer(serializers.Serializer):
    change = serializers.IntegerField(
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text="Units to add; negative removes (never below 0). Not 0.",
    )


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def product_json(product: Product, *, request: Request) -> dict:
    return {
        "id": product.pk,
        "object": "product",
        "seller_id": product.seller_id,
        "title": product.title,
        "description": product.description,
        "price_minor": product.price_minor,
        "currency": product.currency,
        "stock": product.stock,
        "is_active": product.is_active,
        "image_url": request.build_absolute_uri(product.image.url) if product.image else None,
        "created_at": _iso(product.created_at),
        "updated_at": _iso(product.updated_at),
    }


def _body(request: Request, allowed: set[str]) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError("The request body must be a JSON object.")
    unknown = set(request.data) - allowed
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationError(f"Unknown field: {field}.", field=field)
    return request.data


def _visible(request: Request, product_id: Any) -> Product:
    """Active products to anyone; a retired one only to its seller."""
    product = Product.objects.filter(pk=product_id).first()
    if product is None or not (product.is_active or product.seller_id == request.user.pk):
        raise NotFound("No such product.", code="product_not_found")
    return product


def _own(request: Request, product_id: Any) -> Product:
    try:
        return product_get_for_seller(seller=request.user, product_id=product_id)
    except NotFound:
        raise NotFound("No such product.", code="product_not_found") from None


PRODUCT_EXAMPLE = {
    "id": 12,
    "object": "product",
    "seller_id": 7,
    "title": "Linen apron",
    "description": "Stonewashed linen, one size.",
    "price_minor": 2250,
    "currency": "EUR",
    "stock": 40,
    "is_active": True,
    "image_url": None,
    "created_at": "2026-12-07T13:40:01Z",
    "updated_at": "2026-12-07T13:40:01Z",
}
PRODUCT_EXAMPLES = [OpenApiExample("A product", value=PRODUCT_EXAMPLE, response_only=True)]


class _ProductApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly, SellersWrite]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]


class ProductListCreateApi(_ProductApi):
    pagination_class = CreatedCursorPagination  # for the schema; get() pages by hand

    @extend_schema(
        operation_id="products_list",
        description="The catalogue, newest first: every active product, to anyone. A seller "
        "passes `mine=true` for its own, retired ones included.",
        parameters=[
            OpenApiParameter("seller", {"type": "integer", "minimum": 1}, description="By seller."),
            OpenApiParameter("currency", str, description="ISO 4217, e.g. EUR."),
            OpenApiParameter("mine", bool, description="The calling seller's own products."),
        ],
        request=None,
        responses=ProductSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        mine = request.query_params.get("mine")
        if mine not in (None, "true", "false"):
            raise ValidationError("mine is true or false.", field="mine")
        if mine == "true":
            if not (request.user.is_authenticated and request.user.is_seller):
                raise ValidationError("Only a seller has products of its own.", field="mine")
            products = Product.objects.filter(seller=request.user)
        else:
            products = Product.objects.filter(is_active=True)
        seller = request.query_params.get("seller")
        if seller is not None:
            if not (seller.isascii() and seller.isdigit() and len(seller) <= 18):
                raise ValidationError("seller is a seller's id (a number).", field="seller")
            products = products.filter(seller_id=int(seller))
        currency = request.query_params.get("currency")
        if currency is not None:
            products = products.filter(currency=parse_currency(currency))
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(products, request, view=self)
        return paginator.get_paginated_response([product_json(p, request=request) for p in page])

    @extend_schema(
        operation_id="products_create",
        description="A seller lists a product with its stock; buyers can order it at once.",
        request=ProductCreateSerializer,
        responses={201: ProductSerializer},
        examples=[
            OpenApiExample(
                "An apron",
                value={
                    "title": "Linen apron",
                    "description": "Stonewashed linen, one size.",
                    "price_minor": 2250,
                    "currency": "EUR",
                    "stock": 40,
                },
                request_only=True,
            ),
            OpenApiExample(
                "The product", value=PRODUCT_EXAMPLE, response_only=True, status_codes=["201"]
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = _body(request, {"title", "description", "price_minor", "currency", "stock"})
        for field in ("title", "price_minor", "currency", "stock"):
            if field not in data:
                raise ValidationError("This field is required.", field=field)
        product = product_create(
            seller=request.user,
            title=data["title"],
            description=data.get("description", ""),
            price_minor=data["price_minor"],
            currency=data["currency"],
            stock=data["stock"],
        )
        return Response(product_json(product, request=request), status=status.HTTP_201_CREATED)


class ProductDetailApi(_ProductApi):
    @extend_schema(
        operation_id="products_retrieve",
        description="One product (a retired one only to its seller; else 404).",
        request=None,
        responses=ProductSerializer,
        examples=PRODUCT_EXAMPLES,
    )
    def get(self, request: Request, product_id: int) -> Response:
        return Response(product_json(_visible(request, product_id), request=request))

    @extend_schema(
        operation_id="products_update",
        description="The seller edits its own product; fields left out keep their value. Stock "
        "changes go through POST /api/v1/products/{product_id}/stock.",
        request=ProductUpdateSerializer,
        responses=ProductSerializer,
        examples=PRODUCT_EXAMPLES,
    )
    def patch(self, request: Request, product_id: int) -> Response:
        product = _own(request, product_id)
        data = _body(request, {"title", "description", "price_minor", "currency", "is_active"})
        is_active = data.get("is_active", product.is_active)
        if not isinstance(is_active, bool):
            raise ValidationError("is_active is true or false.", field="is_active")
        product = product_update(
            seller=request.user,
            product_id=product.pk,
            title=data.get("title", product.title),
            description=data.get("description", product.description),
            price_minor=data.get("price_minor", product.price_minor),
            currency=data.get("currency", product.currency),
            is_active=is_active,
        )
        return Response(product_json(product, request=request))

    @extend_schema(
        operation_id="products_retire",
        description="Retire the seller's own product: no longer in the catalogue or orderable; "
        "orders already placed keep it. PATCH is_active=true lists it again.",
        request=None,
        responses={200: ProductSerializer},
        examples=PRODUCT_EXAMPLES,
    )
    def delete(self, request: Request, product_id: int) -> Response:
        product = _own(request, product_id)
        product = product_update(
            seller=request.user,
            product_id=product.pk,
            title=product.title,
            description=product.description,
            price_minor=product.price_minor,
            currency=product.currency,
            is_active=False,
        )
        return Response(product_json(product, request=request))


class ProductStockApi(_ProductApi):
    @extend_schema(
        operation_id="products_stock",
        description="Add units to (or, negative, remove them from) the seller's own product in "
        "one step that reservations running at the same time cannot undo; never below 0.",
        request=StockChangeSerializer,
        responses=ProductSerializer,
        examples=PRODUCT_EXAMPLES,
    )
    def post(self, request: Request, product_id: int) -> Response:
        product = _own(request, product_id)
        data = _body(request, {"change"})
        product = product_adjust_stock(
            seller=request.user, product_id=product.pk, change=data.get("change")
        )
        return Response(product_json(product, request=request))
