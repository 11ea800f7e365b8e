"""Orders and checkout sessions API; the project includes these under /api/v1/."""

from django.urls import path

from payments.orders import api as order_api

urlpatterns = [
    path("orders", order_api.OrderListCreateApi.as_view(), name="api-orders"),
    path("orders/<uuid:order_id>", order_api.OrderDetailApi.as_view(), name="api-order"),
    path(
        "checkout/sessions",
        order_api.CheckoutSessionListCreateApi.as_view(),
        name="api-checkout-sessions",
    ),
    path(
        "checkout/sessions/<uuid:session_id>",
        order_api.CheckoutSessionDetailApi.as_view(),
        name="api-checkout-session",
    ),
    path(
        "checkout/sessions/<uuid:session_id>/expire",
        order_api.CheckoutSessionExpireApi.as_view(),
        name="api-checkout-session-expire",
    ),
]
