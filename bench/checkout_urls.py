"""The project's URLs plus the benchmark's no-op API endpoint (only with BENCH_NOOP_ENABLED)."""

from django.conf import settings
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


class NoopApi(APIView):
    """Authenticated, throttled, does nothing: the cost of the API stack itself."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"ok": True})


_extra = []
if getattr(settings, "BENCH_NOOP_ENABLED", False):
    _extra.append(path("api/v1/bench/noop", NoopApi.as_view(), name="bench-noop"))

urlpatterns = [*_extra, *project_urlpatterns]
