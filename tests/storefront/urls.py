"""The project's URLs plus the storefront's, for tests until the lead mounts them in config.urls."""

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
