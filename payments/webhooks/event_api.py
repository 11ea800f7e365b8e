"""Order events over the API (/api/v1/events/): the lifecycle timeline the caller may see.

    GET events/            newest first, cursor-paginated; ?type=order.accepted  ?order=<uuid>
    GET events/<id>/       one event (404 unless visible to the caller)

The `data` of an event is what its webhook carries; a seller sees an order-level event (payment.*)
with only its own sub-orders and share, as in its webhooks.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import CreatedCursorPagination
from core.errors import NotFound, ValidationError
from payments.orders.event_data import event_data_for
from payments.orders.events import EVENT_TYPES
from payments.orders.models import OrderEvent
from payments.webhooks.event_selectors import events_visible_to

# Standard Webhooks' envelope; `data` is the event's own (docs/payments.md, "Webhooks").
EVENT_DATA_SCHEMA = {
    "type": "object",
    "description": "The event's data, by its type: the order and sub-order it concerns and the "
    "facts of the event (amounts in minor units).",
    "additionalProperties": True,
    "x-free-form": "each event type carries its own facts",
}
WEBHOOK_PAYLOAD_SCHEMA = {
    "type": "object",
    "required": ["type", "timestamp", "data"],
    "properties": {
        "type": {"type": "string", "description": "The event type, e.g. order.accepted."},
        "timestamp": {"type": "string", "format": "date-time"},
        "data": EVENT_DATA_SCHEMA,
    },
}


class EventSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    type = serializers.CharField(source="kind")
    order_id = serializers.UUIDField()
    order_number = serializers.CharField(source="order.number")
    sub_order_id = serializers.IntegerField(allow_null=True)
    actor_type = serializers.SerializerMethodField(
        help_text="Who acted, by kind only: buyer, seller, staff, system or provider."
    )
    data = serializers.SerializerMethodField(help_text="The event's payload, as its webhook.")

    class Meta:
        model = OrderEvent
        fields = [
            "id",
            "object",
            "type",
            "order_id",
            "order_number",
            "sub_order_id",
            "actor_type",
            "data",
            "created_at",
        ]
        read_only_fields = fields

    def get_object(self, event: OrderEvent) -> str:
        return "event"

    def get_actor_type(self, event: OrderEvent) -> str:
        # User ids of the other side are not shown.
        return event.actor.split(":", 1)[0]

    @extend_schema_field(EVENT_DATA_SCHEMA)
    def get_data(self, event: OrderEvent) -> dict[str, Any]:
        user = self.context["request"].user
        seller_id = user.pk if user.is_seller and not user.is_platform_staff else None
        return event_data_for(event, seller_id=seller_id)


class EventListApi(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    serializer_class = EventSerializer
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="events_list",
        description="The order events the caller may see, newest first (a seller only its own "
        "parts, as its webhooks say).",
        parameters=[
            OpenApiParameter("type", OpenApiTypes.STR, enum=list(EVENT_TYPES)),
            OpenApiParameter("order", OpenApiTypes.UUID, description="Only this order's events."),
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        events = events_visible_to(self.request.user)
        kind = self.request.query_params.get("type")
        if kind:
            if kind not in EVENT_TYPES:
                raise ValidationError(f"Unknown event type: {kind[:64]}.", field="type")
            events = events.filter(kind=kind)
        order = self.request.query_params.get("order")
        if order:
            try:
                events = events.filter(order_id=uuid.UUID(order))
            except ValueError:
                raise ValidationError("order is an order id (a UUID).", field="order") from None
        return events


class EventDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    serializer_class = EventSerializer
    lookup_url_kwarg = "event_id"

    @extend_schema(
        operation_id="events_retrieve",
        description="One event the caller may see (else 404).",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return events_visible_to(self.request.user)

    def get_object(self) -> OrderEvent:
        event = self.get_queryset().filter(pk=self.kwargs["event_id"]).first()
        if event is None:
            raise NotFound("No such event.", code="event_not_found")
        return event
