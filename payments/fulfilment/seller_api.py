"""Seller orders over the API: /api/v1/seller/orders (the seller's sub-orders), with the sealed
order document, and accept / reject / ship.

    GET  seller/orders                     the seller's orders (?status=awaiting_acceptance ...)
    GET  seller/orders/<id>                one order, with document.sealed (base64) and sha256
    POST seller/orders/<id>/accept         {"key_id": uuid, "signature": base64, "algorithm"?}
    POST seller/orders/<id>/reject         {"reason": text}
    POST seller/orders/<id>/ship           {"tracking"?: text}

The signature is over the exact bytes of the canonical document (open `document.sealed` with the
private half of `document.key_id`, associated data `document.associated_data`; its SHA-256 is
`document.sha256`). Another seller's order is 404. POSTs honour Idempotency-Key (middleware).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CreatedCursorPagination as _Pagination
from core.api.parsers import StrictJSONParser
from core.errors import ValidationError
from payments.fulfilment import api_docs as docs
from payments.fulfilment.acceptance import sub_order_accept, sub_order_get_for_seller
from payments.fulfilment.documents import document_associated_data, order_document_ensure
from payments.fulfilment.models import SealedOrderDocument
from payments.fulfilment.rejection import sub_order_reject
from payments.fulfilment.shipping import sub_order_mark_shipped
from payments.orders.models import SubOrder, SubOrderStatus


class IsSeller(BasePermission):
    message = "Only sellers have seller orders."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_seller)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _body(request: Request, allowed: set[str]) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError("The request body must be a JSON object.")
    unknown = set(request.data) - allowed
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationError(f"Unknown field: {field}.", field=field)
    return request.data


def _document_json(document: SealedOrderDocument | None, sub_order: SubOrder) -> dict | None:
    if document is None:
        return None
    return {
        "version": document.version,
        "sha256": document.sha256,
        "key_id": str(document.seller_key_id) if document.seller_key_id else None,
        "sealed": base64.b64encode(bytes(document.sealed)).decode("ascii")
        if document.sealed is not None
        else None,
        "associated_data": document_associated_data(sub_order.pk).decode(),
        "sealed_at": _iso(document.sealed_at),
    }


def _sealed_document(sub_order: SubOrder) -> SealedOrderDocument | None:
    try:
        return sub_order.sealed_document  # select_related by the list: no query there
    except SealedOrderDocument.DoesNotExist:
        # Paid, but the sealing task has not run yet: made now rather than shown as missing.
        return order_document_ensure(sub_order) if sub_order.accept_by is not None else None


def seller_order_json(sub_order: SubOrder) -> dict:
    order = sub_order.order
    document = _sealed_document(sub_order)
    return {
        "id": sub_order.pk,
        "object": "seller_order",
        "order": {
            "id": str(order.id),
            "number": order.number,
            "created_at": _iso(order.created_at),
        },
        "status": sub_order.status,
        "amount_minor": sub_order.amount_minor,
        "currency": sub_order.currency,
        "captured_minor": sub_order.captured_minor,
        "lines": [
            {
                "product_id": line.product_id,
                "title": line.title,
                "unit_price_minor": line.unit_price_minor,
                "quantity": line.quantity,
                "amount_minor": line.amount_minor,
            }
            # Sorted here, not in SQL, so the list's prefetched lines are used as they are.
            for line in sorted(sub_order.lines.all(), key=lambda line: line.pk)
        ],
        "shipping_address": order.shipping_address,
        "accept_by": _iso(sub_order.accept_by),
        "accepted_at": _iso(sub_order.accepted_at),
        "acceptance": {
            "key_id": str(sub_order.acceptance_key_id),
            "signature": sub_order.acceptance_signature,
        }
        if sub_order.acceptance_key_id
        else None,
        "rejected_at": _iso(sub_order.rejected_at),
        "rejection_reason": sub_order.rejection_reason or None,
        "shipped_at": _iso(sub_order.shipped_at),
        "confirm_by": _iso(sub_order.confirm_by),
        "created_at": _iso(sub_order.created_at),
        "document": _document_json(document, sub_order),
    }


def _actor(request: Request) -> str:
    return f"seller:{request.user.pk}"


class SellerOrderListApi(APIView):
    permission_classes = [IsAuthenticated, IsSeller]
    Pagination = _Pagination  # newest first, ties by id
    pagination_class = _Pagination  # for the schema

    @extend_schema(
        operation_id="seller_orders_list",
        description="The seller's orders (its sub-orders once paid), newest first, each with "
        "the sealed order document to sign.",
        parameters=[
            OpenApiParameter(
                "status",
                str,
                enum=[s for s in SubOrderStatus.values if s != SubOrderStatus.AWAITING_PAYMENT],
                required=False,
                description="Only orders in it.",
            )
        ],
        request=None,
        responses=docs.SellerOrderSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        sub_orders = (
            SubOrder.objects.filter(seller=request.user)
            .exclude(status=SubOrderStatus.AWAITING_PAYMENT)
            .select_related("order", "sealed_document")
            .prefetch_related("lines")
        )
        status = request.query_params.get("status")
        if status:
            if status not in SubOrderStatus.values:
                raise ValidationError("Unknown status.", field="status")
            sub_orders = sub_orders.filter(status=status)
        paginator = self.Pagination()
        page = paginator.paginate_queryset(sub_orders, request, view=self)
        return paginator.get_paginated_response([seller_order_json(s) for s in page])


class SellerOrderDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsSeller]

    @extend_schema(
        operation_id="seller_orders_retrieve",
        description="One of the seller's orders, with `document.sealed` (base64; open it with "
        "the private half of `document.key_id`, associated data `document.associated_data`) and "
        "its SHA-256. Another seller's order is 404.",
        request=None,
        responses=docs.SellerOrderSerializer,
        examples=docs.SELLER_ORDER_EXAMPLES,
    )
    def get(self, request: Request, sub_order_id: int) -> Response:
        sub_order = sub_order_get_for_seller(seller=request.user, sub_order_id=sub_order_id)
        return Response(seller_order_json(sub_order))


class SellerOrderAcceptApi(APIView):
    permission_classes = [IsAuthenticated, IsSeller]
    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="seller_orders_accept",
        description="Accept by signing the order document: key_id (one of your signing keys), "
        "signature (base64 of the signature over the document's exact bytes), algorithm "
        "(optional; must match the key's).",
        request=docs.SellerOrderAcceptSerializer,
        responses=docs.SellerOrderSerializer,
        examples=docs.ACCEPT_EXAMPLES,
    )
    def post(self, request: Request, sub_order_id: int) -> Response:
        data = _body(request, {"key_id", "signature", "algorithm"})
        if not data.get("key_id"):
            raise ValidationError("Give the id of the signing key you signed with.", field="key_id")
        if "signature" not in data:
            raise ValidationError("Give the signature (base64).", field="signature")
        algorithm = data.get("algorithm")
        if algorithm is not None and not isinstance(algorithm, str):
            raise ValidationError("Give the algorithm as text.", field="algorithm")
        sub_order = sub_order_accept(
            sub_order_id=sub_order_id,
            seller=request.user,
            key_id=data.get("key_id"),
            signature_b64=data.get("signature"),
            algorithm=algorithm,
            actor=_actor(request),
        )
        return Response(seller_order_json(sub_order))


class SellerOrderRejectApi(APIView):
    permission_classes = [IsAuthenticated, IsSeller]
    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="seller_orders_reject",
        description="Refuse the order: the buyer's hold for this part is released (or refunded "
        "if captured) and the reason shown to the buyer.",
        request=docs.SellerOrderRejectSerializer,
        responses=docs.SellerOrderSerializer,
        examples=docs.SELLER_ORDER_EXAMPLES,
    )
    def post(self, request: Request, sub_order_id: int) -> Response:
        data = _body(request, {"reason"})
        reason = data.get("reason")
        if not isinstance(reason, str):
            raise ValidationError("Tell the buyer why you reject the order.", field="reason")
        sub_order = sub_order_reject(
            sub_order_id=sub_order_id, seller=request.user, reason=reason, actor=_actor(request)
        )
        return Response(seller_order_json(sub_order))


class SellerOrderShipApi(APIView):
    permission_classes = [IsAuthenticated, IsSeller]
    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="seller_orders_ship",
        description="Mark an accepted order shipped; the buyer's confirmation window starts "
        "(`confirm_by`).",
        request=docs.SellerOrderShipSerializer,
        responses=docs.SellerOrderSerializer,
        examples=docs.SELLER_ORDER_EXAMPLES,
    )
    def post(self, request: Request, sub_order_id: int) -> Response:
        data = _body(request, {"tracking"})
        tracking = data.get("tracking") or ""
        if not isinstance(tracking, str):
            raise ValidationError("Give the tracking note as text.", field="tracking")
        sub_order = sub_order_mark_shipped(
            sub_order_id=sub_order_id, seller=request.user, tracking=tracking, actor=_actor(request)
        )
        return Response(seller_order_json(sub_order))
