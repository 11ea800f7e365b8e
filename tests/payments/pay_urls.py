"""The project's URLconf plus the payment side's pages and API, for tests run before the lead
mounts them in config/urls.py (/pay/) and config/api_urls.py (/api/v1/)."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("pay/", include("payments.flows.urls")),
    path("api/v1/", include("payments.flows.api_urls")),
    *project_urlpatterns,
]
