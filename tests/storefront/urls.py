"""The project's URLs plus the storefront's and the payment side's, for tests until the lead
mounts them in config.urls (each is added only if config.urls does not route it yet)."""

from django.urls import Resolver404, include, path, resolve

from config.urls import urlpatterns as project_urlpatterns


def _mounted(url: str) -> bool:
    try:
        match = resolve(url, urlconf="config.urls")
    except Resolver404:
        return False
    # The API's catch-all (404 in the error shape) is not a route for this URL.
    return match.func.__name__ != "api_not_found"


_extra = []
if not _mounted("/shop/"):
    _extra.append(path("", include("payments.urls")))
if not _mounted("/api/v1/checkout/sessions"):
    _extra.append(path("api/v1/", include("payments.checkout.api_urls")))
if not _mounted("/pay/notify/alipay/"):
    _extra.append(path("pay/", include("payments.flows.urls")))
if not _mounted("/api/v1/payments"):
    _extra.append(path("api/v1/", include("payments.flows.api_urls")))

# Before the project's routes: its /api/ catch-all must stay last.
urlpatterns = [*_extra, *project_urlpatterns]
