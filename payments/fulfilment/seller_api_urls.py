"""Seller orders API; the project includes these under /api/v1/."""

from django.urls import path

from payments.fulfilment import seller_api as api

urlpatterns = [
    path("seller/orders", api.SellerOrderListApi.as_view(), name="api-seller-orders"),
    path(
        "seller/orders/<int:sub_order_id>",
        api.SellerOrderDetailApi.as_view(),
        name="api-seller-order",
    ),
    path(
        "seller/orders/<int:sub_order_id>/accept",
        api.SellerOrderAcceptApi.as_view(),
        name="api-seller-order-accept",
    ),
    path(
        "seller/orders/<int:sub_order_id>/reject",
        api.SellerOrderRejectApi.as_view(),
        name="api-seller-order-reject",
    ),
    path(
        "seller/orders/<int:sub_order_id>/ship",
        api.SellerOrderShipApi.as_view(),
        name="api-seller-order-ship",
    ),
]
