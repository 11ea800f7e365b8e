"""The payments app's pages under the project's root (namespace "payments"): each sub-package's
URLs, in this order. The payment pages (3-D Secure, wallet, bank transfer, notifications) are
payments/flows/urls.py, mounted at /pay/ (namespace "pay"); the API is payments/api_urls.py."""

from django.urls import include, path

app_name = "payments"

urlpatterns = [
    path("", include("payments.checkout.urls")),
    path("", include("payments.catalog.urls")),
    path("", include("payments.fulfilment.seller_urls")),
    path("", include("payments.webhooks.urls")),
]
