"""OpenAPI additions: the Idempotency-Key header on unsafe methods and the one error shape."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter

from core.api.idempotency import IDEMPOTENT_METHODS

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string", "example": "not_found"},
                "message": {"type": "string"},
                "field": {"type": "string", "nullable": True},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string", "nullable": True},
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
                "extra": {"type": "object", "additionalProperties": True},
            },
        }
    },
}


class AutoSchema(SpectacularAutoSchema):
    def get_override_parameters(self) -> list:
        parameters = list(super().get_override_parameters())
        if self.method.upper() in IDEMPOTENT_METHODS:
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        "Makes a retry safe: a random UUID per logical request. The same key with "
                        "the same request within 24 h replays the first answer "
                        "(`Idempotent-Replayed: true`)."
                    ),
                )
            )
        return parameters


def add_error_component(result: dict, generator, **kwargs) -> dict:
    """Register `Error` and make it every operation's default (non-2xx) response."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {
        "description": "Any failure, in the one error shape.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("default", reference)
    return result
