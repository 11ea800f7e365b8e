"""/api/ query strings PostgreSQL could not store, refused before any view runs.

Its own module: core.api.parsers is imported by DRF's settings while core.api.errors (which this
needs) is still importing DRF.
"""

from __future__ import annotations

from core.api.errors import error_response
from core.api.parsers import InvalidBody, check_query_dict


class QueryStringMiddleware:
    """/api/ requests whose query string holds a NUL: 400 in the one shape, before any view (a
    filter like ?status=a%00 reached PostgreSQL, which refuses NUL in text: a 500)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/api/"):
            try:
                check_query_dict(request.GET)
            except InvalidBody as exc:
                return error_response(exc.code, exc.message, field=exc.field, http_status=400)
        return self.get_response(request)
