"""Disputes and refunds API, included from payments/api_urls.py (confirm receipt:
settlement/api_urls.py)."""

from django.urls import path

from payments.fulfilment import buyer_api

_SUB = "orders/<uuid:order_id>/sub-orders/<int:sub_order_id>"

urlpatterns = [
    path(
        f"{_SUB}/dispute",
        buyer_api.SubOrderDisputeApi.as_view(),
        name="api-sub-order-dispute",
    ),
    path(
        f"{_SUB}/refunds",
        buyer_api.SubOrderRefundsApi.as_view(),
        name="api-sub-order-refunds",
    ),
    path("refunds", buyer_api.RefundListApi.as_view(), name="api-refunds"),
    path("refunds/<uuid:refund_id>", buyer_api.RefundDetailApi.as_view(), name="api-refund"),
]
