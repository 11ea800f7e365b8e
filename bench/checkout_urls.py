"""The project's URLs plus the benchmark's no-op API endpoint (only with BENCH_NOOP_ENABLED).

The storefront and payment routes are added here too when config.urls does not mount them yet,
so the benchmark runs on a branch before the lead's wiring.
"""

from django.conf import settings
from django.urls import Resolver404, include, path, resolve
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


class NoopApi(APIView):
    """Authenticated, throttled, does nothing: the cost of the API stack itself."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"ok": True})


def _mounted(url: str) -> bool:
    try:
        match = resolve(url, urlconf="config.urls")
    except Resolver404:
        return False
    return match.func.__name__ != "api_not_found"


_extra = []
if getattr(settings, "BENCH_NOOP_ENABLED", False):
    _extra.append(path("api/v1/bench/noop", NoopApi.as_view(), name="bench-noop"))
if not _mounted("/api/v1/orders"):
    _extra.append(path("api/v1/", include("payments.order_api_urls")))
if not _mounted("/pay/notify/alipay/"):
    _extra.append(path("pay/", include("payments.payment_urls")))
if not _mounted("/api/v1/payments/"):
    _extra.append(path("api/v1/", include("payments.payment_api_urls")))

urlpatterns = [*_extra, *project_urlpatterns]
