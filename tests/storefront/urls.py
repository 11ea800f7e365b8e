"""The project's URLs plus the storefront's and the payment side's, for tests until the lead
mounts them in config.urls (each is added only if config.urls does not resolve it yet)."""

from django.urls import Resolver404, include, path, resolve

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = list(project_urlpatterns)


def _mounted(url: str) -> bool:
    try:
        resolve(url, urlconf="config.urls")
    except Resolver404:
        return False
    return True


if not _mounted("/shop/"):
    urlpatterns.append(path("", include("payments.storefront_urls")))
if not _mounted("/api/v1/checkout/sessions"):
    urlpatterns.append(path("api/v1/", include("payments.order_api_urls")))
if not _mounted("/pay/notify/alipay/"):
    urlpatterns.append(path("pay/", include("payments.payment_urls")))
if not _mounted("/api/v1/payments/"):
    urlpatterns.append(path("api/v1/", include("payments.payment_api_urls")))
