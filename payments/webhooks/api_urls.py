"""Webhook endpoints, deliveries and order events API; included under /api/v1/."""

from django.urls import path

from payments.webhooks import api as webhook_api
from payments.webhooks import event_api

urlpatterns = [
    path(
        "webhook-endpoints",
        webhook_api.WebhookEndpointListCreateApi.as_view(),
        name="api-webhook-endpoints",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>",
        webhook_api.WebhookEndpointDetailApi.as_view(),
        name="api-webhook-endpoint",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/roll-secret",
        webhook_api.WebhookEndpointRollSecretApi.as_view(),
        name="api-webhook-endpoint-roll-secret",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/deliveries",
        webhook_api.WebhookDeliveryListApi.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/deliveries/<str:delivery_id>",
        webhook_api.WebhookDeliveryDetailApi.as_view(),
        name="api-webhook-delivery",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/deliveries/<str:delivery_id>/resend",
        webhook_api.WebhookDeliveryResendApi.as_view(),
        name="api-webhook-delivery-resend",
    ),
    path("events", event_api.EventListApi.as_view(), name="api-events"),
    path("events/<int:event_id>", event_api.EventDetailApi.as_view(), name="api-event"),
]
