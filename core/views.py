import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from core.api.errors import (
    DATABASE_RETRY_AFTER_S,
    database_unavailable_response,
    error_response,
    is_database_unavailable,
)
from core.health import run_checks


def home(request):
    return render(request, "home.html")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, broker and worker: 200 when all are up, 503 naming what is down."""
    report = run_checks()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


# --- The API's error shape for failures that happen outside DRF views ---------------------------


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


@csrf_exempt
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Anything under /api/ that no route matched (works with DEBUG on, unlike handler404)."""
    return error_response("not_found", f"No API endpoint at {request.path}.", http_status=404)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        return error_response(
            "bad_request", "The request could not be understood.", http_status=400
        )
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        return error_response("permission_denied", "You may not do this.", http_status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        return error_response("not_found", "Not found.", http_status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its `except`: a lost database connection anywhere (a middleware, a
    # page, the session's save) is a 503 to retry, not a 500.
    if is_database_unavailable(sys.exc_info()[1]):
        if is_api_path(request.path_info):
            return database_unavailable_response()
        response = HttpResponse(
            "The service is briefly unavailable; please try again in a moment.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
    if is_api_path(request.path_info):
        return error_response(
            "server_error", "Something went wrong on our side; it was logged.", http_status=500
        )
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api_path(request.path_info):
        return error_response("csrf_failed", f"CSRF check failed: {reason}", http_status=403)
    return django_csrf_failure(request, reason=reason)
