"""Storefront pages: shop, cart, checkout, hosted checkout sessions, the buyer's orders (included
by payments/urls.py, namespace "payments")."""

from django.urls import path

from payments.checkout import order_views, session_views, views

urlpatterns = [
    path("shop/", views.product_list, name="shop"),
    path("shop/p/<int:product_id>/", views.product_detail, name="product"),
    path("cart/", views.cart_page, name="cart"),
    path("cart/add/<int:product_id>/", views.cart_add, name="cart_add"),
    path("cart/update/<int:product_id>/", views.cart_update, name="cart_update"),
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/s/<uuid:session_id>/", session_views.session_page, name="session"),
    path(
        "checkout/s/<uuid:session_id>/status/",
        session_views.session_status_partial,
        name="session_status",
    ),
    path(
        "checkout/s/<uuid:session_id>/cancel/",
        session_views.session_cancel,
        name="session_cancel",
    ),
    path("orders/", order_views.order_list, name="orders"),
    path("orders/<uuid:order_id>/", order_views.order_detail, name="order"),
    path(
        "orders/<uuid:order_id>/status/",
        order_views.order_status_partial,
        name="order_status",
    ),
    path("orders/<uuid:order_id>/pay/", order_views.order_pay, name="order_pay"),
    path(
        "orders/<uuid:order_id>/sub-orders/<int:sub_order_id>/dispute/",
        order_views.order_dispute,
        name="order_dispute",
    ),
]
