"""Orders and checkout sessions API; the project includes these under /api/v1/."""

from django.urls import path

from payments.checkout import api

urlpatterns = [
    path("orders", api.OrderListCreateApi.as_view(), name="api-orders"),
    path("orders/<uuid:order_id>", api.OrderDetailApi.as_view(), name="api-order"),
    path(
        "checkout/sessions",
        api.CheckoutSessionListCreateApi.as_view(),
        name="api-checkout-sessions",
    ),
    path(
        "checkout/sessions/<uuid:session_id>",
        api.CheckoutSessionDetailApi.as_view(),
        name="api-checkout-session",
    ),
    path(
        "checkout/sessions/<uuid:session_id>/expire",
        api.CheckoutSessionExpireApi.as_view(),
        name="api-checkout-session-expire",
    ),
]
