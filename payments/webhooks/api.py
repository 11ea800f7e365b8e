"""Webhook endpoints and their deliveries over the API (under /api/v1/):

    GET    webhook-endpoints/                          the seller's endpoints (staff: all)
    POST   webhook-endpoints/                          register one; the answer has its `secret`
    GET    webhook-endpoints/<id>/                     one endpoint (never its secret)
    PATCH  webhook-endpoints/<id>/                     url, description, event_types, is_active
    DELETE webhook-endpoints/<id>/                     soft delete: nothing more is sent to it
    POST   webhook-endpoints/<id>/roll-secret/         a new secret (in the answer, this once);
                                                       the old one signs too for 24 h unless
                                                       {"expire_old_now": true}
    GET    webhook-endpoints/<id>/deliveries/          its messages, newest first
    GET    webhook-endpoints/<id>/deliveries/<msg>/    one message with its attempt log
    POST   webhook-endpoints/<id>/deliveries/<msg>/resend/   send it again (same webhook-id)

An endpoint that is not the caller's answers 404. Only its seller changes it; staff may read and
resend. Services decide; errors are core.errors in the API's one shape.
"""

from __future__ import annotations

from typing import Any

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.idempotency import WITHHOLD_ATTRIBUTE
from core.api.mixins import SensitiveThrottleMixin
from core.api.pagination import CreatedCursorPagination
from core.api.parsers import StrictJSONParser
from core.errors import PermissionDenied, ValidationError
from payments.flows.api import actor_for
from payments.webhooks.deliveries import (
    deliveries_of,
    webhook_delivery_get,
    webhook_delivery_resend,
)
from payments.webhooks.endpoints import (
    SUBSCRIBABLE_EVENT_TYPES,
    endpoints_visible_to,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_get,
    webhook_endpoint_roll_secret,
    webhook_endpoint_update,
)
from payments.webhooks.event_api import WEBHOOK_PAYLOAD_SCHEMA
from payments.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class IsSellerOrStaff(BasePermission):
    message = "Webhooks are for sellers."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_seller or user.is_platform_staff))


def _owned(request: Request, endpoint_id: Any) -> WebhookEndpoint:
    """The caller's endpoint for a change: 404 if not visible, 403 for staff on a seller's."""
    endpoint = webhook_endpoint_get(user=request.user, endpoint_id=endpoint_id)
    if endpoint.seller_id != request.user.pk:
        raise PermissionDenied("Only the seller who owns an endpoint changes it.")
    return endpoint


def _body(request: Request, allowed: set[str]) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError("The request body must be a JSON object.")
    unknown = sorted(set(request.data) - allowed)
    if unknown:
        raise ValidationError(f"Unknown field: {unknown[0]}.", field=unknown[0])
    return request.data


# --- serializers ---------------------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    seller_id = serializers.IntegerField()
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENT_TYPES),
        help_text="Event types sent to this endpoint; empty = all.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "object",
            "seller_id",
            "url",
            "description",
            "event_types",
            "is_active",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_object(self, endpoint: WebhookEndpoint) -> str:
        return "webhook_endpoint"


class WebhookEndpointSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text="whsec_...: sign-verification secret. Shown only in this answer; store it now."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        help_text='Event type names, or [] / ["*"] for all.',
    )


class WebhookRollSecretSerializer(serializers.Serializer):
    expire_old_now = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Stop signing with the old secret at once (it leaked). By default it keeps "
        "signing alongside the new one for 24 hours.",
    )


class WebhookEndpointUpdateSerializer(WebhookEndpointCreateSerializer):
    url = serializers.CharField(max_length=2000, required=False)
    is_active = serializers.BooleanField(required=False)


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "attempted_at", "response_code", "latency_ms", "succeeded", "error"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    endpoint_id = serializers.UUIDField()
    event_id = serializers.IntegerField(
        allow_null=True, help_text="The order event; null for a seller-level event (payouts)."
    )
    payload = serializers.SerializerMethodField(help_text="The body sent.")
    status = serializers.CharField(help_text="pending, succeeded or failed (final).")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "object",
            "endpoint_id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_response_code",
            "last_latency_ms",
            "last_error",
            "payload",
            "created_at",
        ]
        read_only_fields = fields

    def get_object(self, delivery: WebhookDelivery) -> str:
        return "webhook_delivery"

    @extend_schema_field(WEBHOOK_PAYLOAD_SCHEMA)
    def get_payload(self, delivery: WebhookDelivery) -> dict:
        return delivery.payload


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    attempt_log = WebhookAttemptSerializer(many=True)

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "attempt_log"]
        read_only_fields = fields


def _secret_response(endpoint: WebhookEndpoint, secret: str, *, status_code: int) -> Response:
    """The endpoint with its secret: not cached, and not kept by the Idempotency-Key store."""
    data = dict(WebhookEndpointSerializer(endpoint).data)
    data["secret"] = secret
    response = Response(data, status=status_code)
    response["Cache-Control"] = "no-store"
    setattr(response, WITHHOLD_ATTRIBUTE, True)
    return response


# --- endpoints -----------------------------------------------------------------------------------


class WebhookEndpointListCreateApi(SensitiveThrottleMixin, generics.ListAPIView):
    permission_classes = [IsAuthenticated, IsSellerOrStaff]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    serializer_class = WebhookEndpointSerializer
    pagination_class = CreatedCursorPagination

    def get_queryset(self):
        return endpoints_visible_to(self.request.user)

    def get_throttles(self) -> list:
        # Creating endpoints (each a stream of outgoing requests) is rate-limited; reading is not.
        if self.request.method == "POST":
            return super().get_throttles()
        return generics.ListAPIView.get_throttles(self)

    @extend_schema(operation_id="webhook_endpoints_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointSecretSerializer},
    )
    @method_decorator(sensitive_variables("secret"))
    def post(self, request: Request) -> Response:
        if not request.user.is_seller:
            raise PermissionDenied("Only sellers register webhook endpoints.")
        data = _body(request, {"url", "description", "event_types"})
        body = WebhookEndpointCreateSerializer(data=data)
        body.is_valid(raise_exception=True)
        endpoint, secret = webhook_endpoint_create(
            seller=request.user,
            url=body.validated_data["url"],
            description=body.validated_data.get("description", ""),
            event_types=body.validated_data.get("event_types"),
        )
        return _secret_response(endpoint, secret, status_code=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsSellerOrStaff]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="webhook_endpoints_retrieve",
        description="One of the caller's webhook endpoints (its secret is never shown again).",
        responses=WebhookEndpointSerializer,
    )
    def get(self, request: Request, endpoint_id: Any) -> Response:
        endpoint = webhook_endpoint_get(user=request.user, endpoint_id=endpoint_id)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        description="Change an endpoint's URL, event types or description, or pause it "
        "(`is_active`).",
        request=WebhookEndpointUpdateSerializer,
        responses=WebhookEndpointSerializer,
    )
    def patch(self, request: Request, endpoint_id: Any) -> Response:
        endpoint = _owned(request, endpoint_id)
        data = _body(request, {"url", "description", "event_types", "is_active"})
        body = WebhookEndpointUpdateSerializer(data=data, partial=True)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        endpoint = webhook_endpoint_update(
            endpoint=endpoint,
            url=values.get("url"),
            description=values.get("description"),
            event_types=values.get("event_types"),
            is_active=values.get("is_active"),
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_destroy",
        description="Delete an endpoint: nothing more is delivered to it.",
        responses={204: None},
    )
    def delete(self, request: Request, endpoint_id: Any) -> Response:
        webhook_endpoint_delete(endpoint=_owned(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRollSecretApi(SensitiveThrottleMixin, APIView):
    permission_classes = [IsAuthenticated, IsSellerOrStaff]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="webhook_endpoints_roll_secret",
        request=WebhookRollSecretSerializer,
        responses=WebhookEndpointSecretSerializer,
    )
    @method_decorator(sensitive_variables("secret"))
    def post(self, request: Request, endpoint_id: Any) -> Response:
        endpoint = _owned(request, endpoint_id)
        body = WebhookRollSecretSerializer(data=_body(request, {"expire_old_now"}))
        body.is_valid(raise_exception=True)
        secret = webhook_endpoint_roll_secret(
            endpoint=endpoint, expire_old_now=body.validated_data["expire_old_now"]
        )
        endpoint.refresh_from_db()
        return _secret_response(endpoint, secret, status_code=status.HTTP_200_OK)


# --- deliveries ----------------------------------------------------------------------------------


class WebhookDeliveryListApi(generics.ListAPIView):
    permission_classes = [IsAuthenticated, IsSellerOrStaff]
    renderer_classes = [JSONRenderer]
    serializer_class = WebhookDeliverySerializer
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="webhook_deliveries_list",
        description="The deliveries made to this endpoint, newest first.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        endpoint = webhook_endpoint_get(
            user=self.request.user, endpoint_id=self.kwargs["endpoint_id"]
        )
        return deliveries_of(endpoint)


class WebhookDeliveryDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsSellerOrStaff]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="webhook_deliveries_retrieve",
        description="One delivery, with every attempt (time, response code, latency, error).",
        responses=WebhookDeliveryDetailSerializer,
    )
    def get(self, request: Request, endpoint_id: Any, delivery_id: str) -> Response:
        endpoint = webhook_endpoint_get(user=request.user, endpoint_id=endpoint_id)
        delivery = webhook_delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        return Response(WebhookDeliveryDetailSerializer(delivery).data)


class WebhookDeliveryResendApi(APIView):
    permission_classes = [IsAuthenticated, IsSellerOrStaff]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="webhook_deliveries_resend",
        description="Send the delivery again now (the same body, a new signature); 202: queued.",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    def post(self, request: Request, endpoint_id: Any, delivery_id: str) -> Response:
        endpoint = webhook_endpoint_get(user=request.user, endpoint_id=endpoint_id)
        delivery = webhook_delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        delivery = webhook_delivery_resend(delivery=delivery, actor=actor_for(request.user))
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
