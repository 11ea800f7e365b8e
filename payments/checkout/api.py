"""Orders and Checkout Sessions over the API (/api/v1/orders, /api/v1/checkout/sessions).

Thin views: JSON in, services decide, errors are core.errors raised to the one API error shape.
Objects that are not the caller's answer 404, never 403, so ids cannot be probed.
Visibility: a buyer sees own orders; a seller sees orders holding one of the seller's sub-orders,
with only those sub-orders; staff see everything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CreatedCursorPagination
from core.api.parsers import StrictJSONParser
from core.errors import PermissionDenied, ValidationError
from core.integers import MAX_JSON_INTEGER, json_integer
from payments.checkout import api_docs as docs
from payments.checkout.sessions import (
    checkout_session_create,
    checkout_session_expire_now,
    checkout_session_get_for_seller,
    checkout_session_latest_payment,
    checkout_session_payment_status,
    checkout_session_refresh,
)
from payments.flows.selectors import order_latest_payment
from payments.orders.models import CheckoutSession, Order, OrderStatus, SubOrder
from payments.orders.selectors import order_get_visible, orders_visible_to, sub_orders_visible_to
from payments.orders.services import order_create_from_cart


class IsSellerOrStaff(BasePermission):
    message = "Only sellers use checkout sessions."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_seller or user.is_platform_staff))


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError("The request body must be a JSON object.")
    return request.data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# --- serialisation -------------------------------------------------------------------------------


def _payment_json(payment: Any) -> dict | None:
    if payment is None:
        return None
    return {
        "id": str(payment.id),
        "method": payment.method,
        "status": payment.status,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "failure_code": payment.failure_code or None,
        "failure_message": payment.failure_message or None,
    }


def _sub_order_json(sub_order: SubOrder, lines: list | None = None) -> dict:
    return {
        "id": sub_order.id,
        "seller_id": sub_order.seller_id,
        "status": sub_order.status,
        "amount_minor": sub_order.amount_minor,
        "currency": sub_order.currency,
        "lines": [
            {
                "product_id": line.product_id,
                "title": line.title,
                "unit_price_minor": line.unit_price_minor,
                "quantity": line.quantity,
                "amount_minor": line.amount_minor,
            }
            for line in (lines if lines is not None else sub_order.lines.all())
        ],
    }


def order_json(order: Order, *, user: Any) -> dict:
    created = getattr(order, "created_sub_orders", None)
    if created is not None and user.is_buyer:
        # Just placed by this buyer: render what was written instead of reading it back.
        return _order_json(order, created, sees_whole=True, payment=None, fresh=True)
    sub_orders = list(sub_orders_visible_to(user=user, order=order))
    sees_whole = not (user.is_seller and not user.is_platform_staff)
    payment = order_latest_payment(order) if sees_whole else None
    return _order_json(order, sub_orders, sees_whole=sees_whole, payment=payment, fresh=False)


def _order_json(
    order: Order, sub_orders: list, *, sees_whole: bool, payment: Any, fresh: bool
) -> dict:
    data = {
        "id": str(order.id),
        "object": "order",
        "number": order.number,
        "status": order.status,
        "currency": order.currency,
        # A seller sees the part that is theirs, not what the buyer bought from others.
        "total_minor": order.total_minor if sees_whole else sum(s.amount_minor for s in sub_orders),
        "buyer_email": order.buyer_email,
        "shipping_address": order.shipping_address,
        "expires_at": _iso(order.expires_at),
        "created_at": _iso(order.created_at),
        "sub_orders": [_sub_order_json(s, s.created_lines if fresh else None) for s in sub_orders],
    }
    if sees_whole:
        data["payment"] = _payment_json(payment)
        data["metadata"] = order.metadata
    return data


def session_json(session: CheckoutSession, *, request: Request) -> dict:
    order = session.order
    payment = checkout_session_latest_payment(session)
    return {
        "id": str(session.id),
        "object": "checkout.session",
        "url": request.build_absolute_uri(
            reverse("payments:session", kwargs={"session_id": session.id})
        ),
        "status": session.status,
        "payment_status": checkout_session_payment_status(session, latest_payment=payment),
        "currency": session.currency,
        "amount_total_minor": session.amount_total_minor,
        "line_items": session.line_items,
        "success_url": session.success_url,
        "cancel_url": session.cancel_url,
        "metadata": session.metadata,
        "client_reference_id": session.client_reference_id or None,
        "customer_email": session.customer_email or None,
        "expires_at": _iso(session.expires_at),
        "created_at": _iso(session.created_at),
        "completed_at": _iso(session.completed_at),
        "order": None
        if order is None
        else {"id": str(order.id), "number": order.number, "status": order.status},
        "payment": _payment_json(payment),
    }


# --- checkout sessions ---------------------------------------------------------------------------


class CheckoutSessionListCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsSellerOrStaff]
    parser_classes = [StrictJSONParser]

    pagination_class = CreatedCursorPagination  # for the schema; get() pages by hand

    @extend_schema(
        operation_id="checkout_sessions_create",
        description="A seller creates a hosted payment page for its own shop (Stripe Checkout's "
        "model): line items (catalogue products or ad-hoc lines), currency and return URLs. Send "
        "the buyer to `url`; read the session back (or listen to webhooks) to learn when it is "
        "`paid`.",
        request=docs.CheckoutSessionCreateSerializer,
        responses={201: docs.CheckoutSessionSerializer},
        examples=docs.SESSION_CREATE_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        if not request.user.is_seller:
            raise PermissionDenied("Only sellers create checkout sessions.")
        data = _body(request)
        unknown = set(data) - {
            "line_items",
            "currency",
            "success_url",
            "cancel_url",
            "metadata",
            "expires_at",
            "client_reference_id",
            "customer_email",
        }
        if unknown:
            field = sorted(unknown)[0]
            raise ValidationError(f"Unknown field: {field}.", field=field)
        expires_at = data.get("expires_at")
        if expires_at is not None:
            parsed = parse_datetime(expires_at) if isinstance(expires_at, str) else None
            if parsed is None:
                raise ValidationError(
                    "Give expires_at as an ISO 8601 date-time with a time zone.",
                    field="expires_at",
                )
            expires_at = parsed
        session = checkout_session_create(
            seller=request.user,
            currency=data.get("currency"),
            line_items=data.get("line_items"),
            success_url=data.get("success_url"),
            cancel_url=data.get("cancel_url"),
            metadata=data.get("metadata"),
            expires_at=expires_at,
            client_reference_id=data.get("client_reference_id") or "",
            customer_email=data.get("customer_email") or "",
        )
        return Response(session_json(session, request=request), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="checkout_sessions_list",
        description="The seller's checkout sessions (staff: everyone's), newest first.",
        request=None,
        responses=docs.CheckoutSessionSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        sessions = CheckoutSession.objects.select_related("order")
        if not request.user.is_platform_staff:
            sessions = sessions.filter(seller=request.user)
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(sessions, request, view=self)
        return paginator.get_paginated_response(
            [
                session_json(checkout_session_refresh(session=session), request=request)
                for session in page
            ]
        )


class CheckoutSessionDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsSellerOrStaff]

    @extend_schema(
        operation_id="checkout_sessions_retrieve",
        description="One of the seller's checkout sessions, with its order and payment once the "
        "buyer has paid.",
        request=None,
        responses=docs.CheckoutSessionSerializer,
        examples=docs.SESSION_EXAMPLES,
    )
    def get(self, request: Request, session_id: Any) -> Response:
        session = checkout_session_get_for_seller(seller=request.user, session_id=session_id)
        return Response(session_json(session, request=request))


class CheckoutSessionExpireApi(APIView):
    permission_classes = [IsAuthenticated, IsSellerOrStaff]

    @extend_schema(
        operation_id="checkout_sessions_expire",
        description="Close an open session now: the buyer can no longer pay on it, and any "
        "stock it reserved is released. No body.",
        request=None,
        responses=docs.CheckoutSessionSerializer,
        examples=docs.SESSION_EXAMPLES,
    )
    def post(self, request: Request, session_id: Any) -> Response:
        session = checkout_session_expire_now(seller=request.user, session_id=session_id)
        return Response(session_json(session, request=request))


# --- orders --------------------------------------------------------------------------------------


class OrderListCreateApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]

    pagination_class = CreatedCursorPagination  # for the schema; get() pages by hand

    @extend_schema(
        operation_id="orders_list",
        description="The orders the caller may see, newest first: a buyer its own, a seller "
        "those holding one of its sub-orders (with only those), staff all.",
        parameters=[
            OpenApiParameter(
                "status", str, enum=list(OrderStatus.values), description="Only orders in it."
            )
        ],
        request=None,
        responses=docs.OrderSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        orders = orders_visible_to(request.user)
        order_status = request.query_params.get("status")
        if order_status:
            orders = orders.filter(status=order_status)
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(orders, request, view=self)
        return paginator.get_paginated_response(
            [order_json(order, user=request.user) for order in page]
        )

    @extend_schema(
        operation_id="orders_create",
        description="A buyer places an order for catalogue products; stock is reserved until the "
        "order is paid or expires. Pay it with POST /api/v1/payments.",
        request=docs.OrderCreateSerializer,
        responses={201: docs.OrderSerializer},
        examples=docs.ORDER_CREATE_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        """A buyer places an order for products (stock reserved); pay it via the payments API."""
        if not request.user.is_buyer:
            raise PermissionDenied("Only buyers place orders.")
        data = _body(request)
        unknown = set(data) - {"items", "shipping_address", "metadata"}
        if unknown:
            field = sorted(unknown)[0]
            raise ValidationError(f"Unknown field: {field}.", field=field)
        items = data.get("items")
        if not isinstance(items, list) or not items:
            raise ValidationError("Give at least one item.", field="items")
        for index, item in enumerate(items):
            if not isinstance(item, dict) or set(item) - {"product_id", "quantity"}:
                raise ValidationError(
                    'Each item is {"product_id": int, "quantity": int}; prices come from the '
                    "catalogue.",
                    field=f"items[{index}]",
                )
            # JSON has numbers: "2" or 2.0 is a client bug, not something to guess about (the
            # bounds come after the product: parse_quantity in order_create_from_cart).
            json_integer(
                item.get("quantity"),
                field="quantity",
                minimum=-MAX_JSON_INTEGER,
                maximum=MAX_JSON_INTEGER,
                message="The quantity is a whole number, e.g. 2.",
            )
        metadata = data.get("metadata") or {}
        if (
            not isinstance(metadata, dict)
            or len(metadata) > 20
            or not all(
                isinstance(k, str) and isinstance(v, str) and len(k) <= 40 and len(v) <= 500
                for k, v in metadata.items()
            )
        ):
            raise ValidationError(
                "Metadata is at most 20 string keys (40 chars) and values (500 chars).",
                field="metadata",
            )
        order = order_create_from_cart(
            buyer=request.user,
            cart_lines=items,
            shipping_address=data.get("shipping_address"),
            metadata=metadata,
        )
        return Response(order_json(order, user=request.user), status=status.HTTP_201_CREATED)


class OrderDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="orders_retrieve",
        description="One order the caller may see (anyone else's answers 404).",
        request=None,
        responses=docs.OrderSerializer,
        examples=docs.ORDER_EXAMPLES,
    )
    def get(self, request: Request, order_id: Any) -> Response:
        order = order_get_visible(user=request.user, order_id=order_id)
        return Response(order_json(order, user=request.user))
