"""Release-side API (confirm, dispute, refunds); included from payments/api_urls.py."""

from django.urls import path

from payments.fulfilment import buyer_api as buyer_order_api

_SUB = "orders/<uuid:order_id>/sub-orders/<int:sub_order_id>"

urlpatterns = [
    path(
        f"{_SUB}/confirm",
        buyer_order_api.SubOrderConfirmApi.as_view(),
        name="api-sub-order-confirm",
    ),
    path(
        f"{_SUB}/dispute",
        buyer_order_api.SubOrderDisputeApi.as_view(),
        name="api-sub-order-dispute",
    ),
    path(
        f"{_SUB}/refunds",
        buyer_order_api.SubOrderRefundsApi.as_view(),
        name="api-sub-order-refunds",
    ),
    path("refunds", buyer_order_api.RefundListApi.as_view(), name="api-refunds"),
    path("refunds/<uuid:refund_id>", buyer_order_api.RefundDetailApi.as_view(), name="api-refund"),
]
