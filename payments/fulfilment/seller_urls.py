"""Seller order pages (included by payments/urls.py, namespace "payments"). The list of them is
the seller dashboard's (/seller/orders/, settlement/dashboard, "dashboard:orders")."""

from django.urls import path

from payments.fulfilment import seller_views as views

urlpatterns = [
    path("seller/orders/<int:sub_order_id>/", views.order_detail, name="seller_order"),
    path(
        "seller/orders/<int:sub_order_id>/accept/", views.order_accept, name="seller_order_accept"
    ),
    path(
        "seller/orders/<int:sub_order_id>/reject/", views.order_reject, name="seller_order_reject"
    ),
    path("seller/orders/<int:sub_order_id>/ship/", views.order_ship, name="seller_order_ship"),
    path(
        "seller/orders/<int:sub_order_id>/document/",
        views.order_document,
        name="seller_order_document",
    ),
    path(
        "seller/orders/<int:sub_order_id>/refund/",
        views.order_refund,
        name="seller_order_refund",
    ),
]
