"""Release-side pages; included from payments/storefront_urls.py (namespace "payments")."""

from django.urls import path

from payments.fulfilment import release_views

urlpatterns = [
    path(
        "orders/<uuid:order_id>/sub-orders/<int:sub_order_id>/confirm/",
        release_views.order_confirm,
        name="order_confirm",
    ),
    path(
        "orders/<uuid:order_id>/sub-orders/<int:sub_order_id>/dispute/",
        release_views.order_dispute,
        name="order_dispute",
    ),
    path(
        "seller/orders/<int:sub_order_id>/refund/",
        release_views.seller_order_refund,
        name="seller_order_refund",
    ),
]
