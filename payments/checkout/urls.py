"""Storefront pages; the project mounts these at / (namespace "payments")."""

from django.urls import include, path

from payments.catalog import views as seller_product_views
from payments.checkout import views as storefront_views

app_name = "payments"

urlpatterns = [
    path("shop/", storefront_views.product_list, name="shop"),
    path("shop/p/<int:product_id>/", storefront_views.product_detail, name="product"),
    path("cart/", storefront_views.cart_page, name="cart"),
    path("cart/add/<int:product_id>/", storefront_views.cart_add, name="cart_add"),
    path("cart/update/<int:product_id>/", storefront_views.cart_update, name="cart_update"),
    path("checkout/", storefront_views.checkout, name="checkout"),
    path("checkout/s/<uuid:session_id>/", storefront_views.session_page, name="session"),
    path(
        "checkout/s/<uuid:session_id>/status/",
        storefront_views.session_status_partial,
        name="session_status",
    ),
    path(
        "checkout/s/<uuid:session_id>/cancel/",
        storefront_views.session_cancel,
        name="session_cancel",
    ),
    path("orders/", storefront_views.order_list, name="orders"),
    path("orders/<uuid:order_id>/", storefront_views.order_detail, name="order"),
    path(
        "orders/<uuid:order_id>/status/",
        storefront_views.order_status_partial,
        name="order_status",
    ),
    path("orders/<uuid:order_id>/pay/", storefront_views.order_pay, name="order_pay"),
    path("seller/products/", seller_product_views.product_list, name="seller_products"),
    path("seller/products/new/", seller_product_views.product_new, name="seller_product_new"),
    path(
        "seller/products/<int:product_id>/edit/",
        seller_product_views.product_edit,
        name="seller_product_edit",
    ),
    path(
        "seller/products/<int:product_id>/stock/",
        seller_product_views.product_stock,
        name="seller_product_stock",
    ),
    path("", include("payments.fulfilment.seller_urls")),
    # Confirm receipt, disputes, seller refunds (release side).
    path("", include("payments.fulfilment.release_urls")),
    path("", include("payments.webhooks.urls")),
]
