"""The buyer's and the seller's order actions over the API: open a dispute (the buyer), refunds
(the seller of the sub-order or staff create them; the order's buyer, that seller and staff read
them). Confirming receipt is settlement's (settlement/release/api.py), beside these routes.

    POST /api/v1/orders/<order_id>/sub-orders/<id>/dispute    buyer {reason}   -> the dispute
    POST /api/v1/orders/<order_id>/sub-orders/<id>/refunds    seller or staff {amount_minor, reason}
    GET  /api/v1/orders/<order_id>/sub-orders/<id>/refunds    buyer, seller or staff
    GET  /api/v1/refunds, /api/v1/refunds/<refund_id>         what the caller may see

Thin views over payments.fulfilment.disputes / refunds. Anything that is
not the caller's answers 404. POSTs are made idempotent by the Idempotency-Key middleware; the key
is also handed to refund_create, so a retry never refunds twice even past the middleware's 24 h.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CreatedCursorPagination
from core.api.parsers import StrictJSONParser
from core.errors import NotFound, ValidationError
from payments.fulfilment import api_docs as docs
from payments.fulfilment.disputes import dispute_open
from payments.fulfilment.models import Dispute, Refund, RefundStatus
from payments.fulfilment.refunds import refund_create
from payments.orders.models import SubOrder


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def actor_of(user: Any) -> str:
    return f"{user.role}:{user.pk}"


def _body(request: Request, allowed: set[str]) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError("The request body must be a JSON object.")
    unknown = set(request.data) - allowed
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationError(f"Unknown field: {field}.", field=field)
    return request.data


def refund_json(refund: Refund) -> dict:
    return {
        "id": str(refund.pk),
        "object": "refund",
        "order_id": str(refund.sub_order.order_id),
        "sub_order_id": refund.sub_order_id,
        "payment_id": str(refund.payment_id),
        "amount_minor": refund.amount_minor,
        "currency": refund.currency,
        "status": refund.status,
        "source": refund.source,
        "reason": refund.reason,
        "failure_code": refund.failure_code or None,
        "created_at": _iso(refund.created_at),
        "updated_at": _iso(refund.updated_at),
    }


def dispute_json(dispute: Dispute) -> dict:
    return {
        "id": dispute.pk,
        "object": "dispute",
        "sub_order_id": dispute.sub_order_id,
        "status": dispute.status,
        "outcome": dispute.outcome or None,
        "reason": dispute.reason,
        "created_at": _iso(dispute.created_at),
        "resolved_at": _iso(dispute.resolved_at),
    }


def sub_order_json(sub_order: SubOrder) -> dict:
    return {
        "id": sub_order.pk,
        "object": "sub_order",
        "order_id": str(sub_order.order_id),
        "seller_id": sub_order.seller_id,
        "status": sub_order.status,
        "amount_minor": sub_order.amount_minor,
        "captured_minor": sub_order.captured_minor,
        "fee_minor": sub_order.fee_minor,
        "currency": sub_order.currency,
        "confirm_by": _iso(sub_order.confirm_by),
        "confirmed_at": _iso(sub_order.confirmed_at),
    }


def visible_sub_order(*, user: Any, order_id: Any, sub_order_id: Any, role: str) -> SubOrder:
    """The sub-order of that order if `user` may act on it as `role` ("buyer": the order's buyer;
    "seller": its seller or staff; "any": any of them); else NotFound."""
    sub_orders = SubOrder.objects.select_related("order").filter(pk=sub_order_id, order_id=order_id)
    staff = getattr(user, "is_platform_staff", False)
    if role == "buyer":
        sub_orders = sub_orders.filter(order__buyer=user)
    elif role == "seller":
        sub_orders = sub_orders if staff else sub_orders.filter(seller=user)
    elif not staff:
        sub_orders = sub_orders.filter(Q(order__buyer=user) | Q(seller=user))
    sub_order = sub_orders.first()
    if sub_order is None:
        raise NotFound("No such order.", code="order_not_found")
    return sub_order


def refunds_visible_to(user: Any) -> QuerySet[Refund]:
    refunds = Refund.objects.select_related("sub_order")
    if getattr(user, "is_platform_staff", False):
        return refunds
    return refunds.filter(Q(sub_order__seller=user) | Q(sub_order__order__buyer=user))


class SubOrderDisputeApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="orders_sub_orders_dispute",
        request=docs.DisputeCreateSerializer,
        responses={201: docs.DisputeSerializer},
        description="The buyer opens a dispute before the confirmation window ends: the money "
        "stays held until staff decide.",
        tags=["disputes"],
        examples=docs.DISPUTE_EXAMPLES,
    )
    def post(self, request: Request, order_id: Any, sub_order_id: int) -> Response:
        visible_sub_order(
            user=request.user, order_id=order_id, sub_order_id=sub_order_id, role="buyer"
        )
        data = _body(request, {"reason"})
        reason = data.get("reason")
        if not isinstance(reason, str):
            raise ValidationError("Tell us what went wrong.", field="reason")
        dispute = dispute_open(
            sub_order_id=sub_order_id,
            buyer=request.user,
            reason=reason,
            actor=actor_of(request.user),
        )
        return Response(dispute_json(dispute), status=status.HTTP_201_CREATED)


class SubOrderRefundsApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="orders_sub_orders_refunds_create",
        request=docs.RefundCreateSerializer,
        responses={201: docs.RefundSerializer},
        description="The seller (or staff) refunds part or all of a sub-order; `pending` until "
        "the provider has paid it back. The Idempotency-Key also keys the refund itself, so a "
        "retry never refunds twice.",
        tags=["refunds"],
        examples=docs.REFUND_CREATE_EXAMPLES,
    )
    def post(self, request: Request, order_id: Any, sub_order_id: int) -> Response:
        visible_sub_order(
            user=request.user, order_id=order_id, sub_order_id=sub_order_id, role="seller"
        )
        data = _body(request, {"amount_minor", "reason"})
        key = request.headers.get("Idempotency-Key")
        refund = refund_create(
            sub_order_id=sub_order_id,
            amount_minor=data.get("amount_minor"),
            reason=data.get("reason"),
            actor=actor_of(request.user),
            idempotency_key=key or None,
        )
        return Response(refund_json(refund), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="orders_sub_orders_refunds_list",
        description="Every refund of the sub-order, oldest first (its buyer, its seller, staff).",
        request=None,
        responses=docs.RefundListSerializer,
        tags=["refunds"],
        examples=docs.REFUND_LIST_EXAMPLES,
    )
    def get(self, request: Request, order_id: Any, sub_order_id: int) -> Response:
        sub_order = visible_sub_order(
            user=request.user, order_id=order_id, sub_order_id=sub_order_id, role="any"
        )
        refunds = sub_order.refunds.select_related("sub_order").order_by("created_at", "id")
        return Response({"object": "list", "data": [refund_json(r) for r in refunds]})


class RefundListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedCursorPagination  # for the schema; get() pages by hand

    @extend_schema(
        operation_id="refunds_list",
        description="The refunds the caller may see (a buyer's orders', a seller's sub-orders', "
        "staff all), newest first.",
        parameters=[
            OpenApiParameter(
                "status", str, enum=list(RefundStatus.values), description="Only refunds in it."
            )
        ],
        request=None,
        responses=docs.RefundSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        refunds = refunds_visible_to(request.user)
        wanted = request.query_params.get("status")
        if wanted:
            refunds = refunds.filter(status=wanted)
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(refunds, request, view=self)
        return paginator.get_paginated_response([refund_json(r) for r in page])


class RefundDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="refunds_retrieve",
        description="One refund the caller may see (anyone else's answers 404).",
        request=None,
        responses=docs.RefundSerializer,
        examples=docs.REFUND_EXAMPLES,
    )
    def get(self, request: Request, refund_id: Any) -> Response:
        refund = refunds_visible_to(request.user).filter(pk=refund_id).first()
        if refund is None:
            raise NotFound("No such refund.", code="refund_not_found")
        return Response(refund_json(refund))
