"""Cursor pagination, newest first, stable under concurrent inserts.

Rows created at the same instant are ordered by primary key as well, so a page boundary inside a run
of equal `created_at` values neither repeats nor skips a row. A malformed cursor or limit is a 400 in
the API's error shape (DRF answers 404 for a bad cursor and ignores a bad limit).
"""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.pagination import CursorPagination

from core.errors import ValidationError
from core.integers import text_integer


class CreatedCursorPagination(CursorPagination):
    ordering = ("-created_at", "-pk")
    page_size_query_param = "limit"
    max_page_size = 200

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        return text_integer(
            raw,
            field=self.page_size_query_param,
            minimum=1,
            maximum=self.max_page_size,
            message=f"limit must be a whole number from 1 to {self.max_page_size}.",
        )

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "Where the page starts: the `next` or `previous` link's cursor, "
                "as given (anything else is a 400 `invalid_cursor`).",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "in": "query",
                "required": False,
                "description": f"Items per page, 1 to {self.max_page_size} (default "
                f"{self.page_size}); anything else is a 400.",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                },
            },
        ]

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": ["string", "null"], "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The next (older) page, or null."},
                "previous": {**link, "description": "The previous (newer) page, or null."},
                "results": schema,
            },
        }

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except (NotFound, DRFValidationError) as exc:
            raise ValidationError(
                "The cursor is not valid: use the `next` or `previous` link as given.",
                code="invalid_cursor",
                field=self.cursor_query_param,
            ) from exc
