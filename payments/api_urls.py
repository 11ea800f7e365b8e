"""The payments app's API: the catalogue (products), orders and checkout sessions (storefront side), payments and payment
methods (payment side)."""

from django.urls import include, path

urlpatterns = [
    path("", include("payments.catalog.api_urls")),
    path("", include("payments.checkout.api_urls")),
    path("", include("payments.flows.api_urls")),
    path("", include("payments.fulfilment.seller_api_urls")),
    path("", include("payments.fulfilment.buyer_api_urls")),
    path("", include("payments.webhooks.api_urls")),
]
