"""One trailing-slash convention for the API: paths under /api/v1/ have none.

Every route is declared without the slash (as Stripe's are), and the schema shows them so. A client
that adds one still reaches the same operation: the slash is dropped before anything else runs, so
the Idempotency-Key scope, the fingerprint and the `next` links all see the one canonical path.
"""

from __future__ import annotations

API_PREFIX = "/api/v1/"


def canonical_api_path(path: str) -> str:
    """/api/v1/payments/ -> /api/v1/payments; anything else as it is."""
    if path.startswith(API_PREFIX) and len(path) > len(API_PREFIX) and path.endswith("/"):
        return path.rstrip("/") or path
    return path


class ApiTrailingSlashMiddleware:
    """First in MIDDLEWARE: /api/v1/<path>/ is served as /api/v1/<path>."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        canonical = canonical_api_path(request.path_info)
        if canonical != request.path_info:
            script_name = request.path[: len(request.path) - len(request.path_info)]
            request.path_info = canonical
            request.path = script_name + canonical
        return self.get_response(request)
