"""The payments app's API: orders and checkout sessions (storefront side), payments and payment
methods (payment side)."""

from django.urls import include, path

urlpatterns = [
    path("", include("payments.order_api_urls")),
    path("", include("payments.payment_api_urls")),
    path("", include("payments.seller_order_api_urls")),
    path("", include("payments.buyer_order_api_urls")),
    path("", include("payments.webhook_api_urls")),
]
