"""Settlement's API under /api/v1/ (config/api_urls.py picks this module up)."""

from django.urls import path

from settlement.release import api as release_api

urlpatterns = [
    path(
        "orders/<uuid:order_id>/sub-orders/<int:sub_order_id>/confirm",
        release_api.SubOrderConfirmApi.as_view(),
        name="api-sub-order-confirm",
    ),
]
