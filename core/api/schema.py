"""OpenAPI (3.1) additions for every operation: the Idempotency-Key header on unsafe methods, a tag
per resource, the 4xx answers in the one error shape (with an example each), and an example of
every request and answer that has none written by hand.

The schema is JSON Schema (OpenAPI 3.1), so the suite validates real answers against it
(tests/api/schema_contract.py).
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter

from core.api.idempotency import IDEMPOTENT_METHODS, MAX_KEY_LENGTH

NULLABLE_STRING = {"type": ["string", "null"]}

ERROR_SCHEMA = {
    "type": "object",
    "description": "The one error shape of every failure (core/api/errors.py).",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable snake_case: program against it.",
                    "examples": ["not_found"],
                },
                "message": {"type": "string", "description": "For a person."},
                "field": {**NULLABLE_STRING, "description": "The input at fault, or null."},
                "details": {
                    "type": "array",
                    "description": "Validation errors (code `invalid`): every field's error.",
                    "items": {
                        "type": "object",
                        "required": ["field", "code", "message"],
                        "properties": {
                            "field": NULLABLE_STRING,
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
                "extra": {
                    "type": "object",
                    "description": "Facts of a domain error, named by its code (e.g. "
                    "`available` with `out_of_stock`).",
                    "additionalProperties": True,
                    "x-free-form": "each error code carries its own facts",
                },
            },
        }
    },
}

IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    "pattern": "^[\\x20-\\x7E]+$",
}

# The first path segment after /api/v1/ names the resource, except where it is a prefix.
RESOURCE_OF_SEGMENT = {"checkout": "checkout-sessions", "seller": "seller-orders"}

TAG_DESCRIPTIONS = {
    "orders": "A buyer's orders, each split into one sub-order per seller; confirm receipt, the "
    "receipt.",
    "payments": "Paying an order (card, wallet, bank transfer); capture and void for staff.",
    "payment-methods": "The buyer's vaulted cards.",
    "refunds": "Money back to the buyer, by the seller or staff.",
    "disputes": "The buyer's disputes.",
    "seller-orders": "The seller's side of an order: the sealed document, accept, reject, ship.",
    "checkout-sessions": "Hosted payment pages for a seller's own shop.",
    "products": "The catalogue: public reads; sellers manage their own products.",
    "webhook-endpoints": "Where a seller receives events, and the deliveries made to it.",
    "events": "The order events the caller may see (what webhooks deliver).",
    "settlement-batches": "A seller's released money gathered for payout.",
    "payouts": "Money paid to a seller's bank.",
    "acknowledgements": "Once a payout is paid, the seller and each buyer acknowledge it (a "
    "signature over a statement) or open a case for staff.",
    "ledger": "The ledger's public seals: tree heads and consistency proofs.",
    "api-keys": "API keys (Authorization: Bearer ...).",
    "seller-keys": "A seller's signing and encryption keys.",
    "seller-profiles": "A seller's public profile and payout settings.",
}


class AutoSchema(SpectacularAutoSchema):
    def get_tags(self) -> list[str]:
        tokens = self._tokenize_path()
        first = tokens[0] if tokens else "api"
        return [RESOURCE_OF_SEGMENT.get(first, first)]

    def get_override_parameters(self) -> list:
        parameters = list(super().get_override_parameters())
        if self.method.upper() in IDEMPOTENT_METHODS:
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    IDEMPOTENCY_KEY_SCHEMA,
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        f"Makes a retry safe: 1 to {MAX_KEY_LENGTH} printable ASCII characters, "
                        "best a random UUID per logical request. The same key with the same "
                        "request within 24 h replays the first answer (`Idempotent-Replayed: "
                        "true`); with another request it is a 422 `idempotency_key_reused`; "
                        "while the first is still running, a 409 `idempotency_key_in_flight`. A "
                        "malformed key is a 400 `invalid_idempotency_key`."
                    ),
                )
            )
        return parameters


# --- the 4xx answers --------------------------------------------------------------------------


def _error(code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"code": code, "message": message, "field": field}}


ERROR_RESPONSES = {
    "400": (
        "The input is not valid (body, query or header); `field` names it. Nothing changed.",
        {
            "invalid": _error("invalid", "Enter a whole number.", "amount_minor"),
            "invalid_idempotency_key": _error(
                "invalid_idempotency_key",
                "The Idempotency-Key is 1 to 255 printable ASCII characters.",
                "Idempotency-Key",
            ),
        },
    ),
    "401": (
        "No credentials, or bad ones.",
        {"not_authenticated": _error("not_authenticated", "Sign in or send an API key.")},
    ),
    "403": (
        "Signed in, but not allowed to do this.",
        {"permission_denied": _error("permission_denied", "Only sellers may do this.")},
    ),
    "404": (
        "No such object, or not the caller's (never told apart).",
        {"not_found": _error("not_found", "No such order.")},
    ),
    "409": (
        "Conflicts with the object's state, or a request with the same Idempotency-Key is "
        "still running.",
        {
            "idempotency_key_in_flight": _error(
                "idempotency_key_in_flight",
                "A request with this Idempotency-Key is still running; retry shortly.",
            )
        },
    ),
    "422": (
        "The Idempotency-Key was used with another request.",
        {
            "idempotency_key_reused": _error(
                "idempotency_key_reused",
                "This Idempotency-Key was used with another request.",
                "Idempotency-Key",
            )
        },
    ),
    "429": (
        "Too many requests: wait for `Retry-After` seconds.",
        {"throttled": _error("throttled", "Request was throttled.")},
    ),
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _error_response(status: str) -> dict:
    description, examples = ERROR_RESPONSES[status]
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": ERROR_REF,
                "examples": {code: {"value": value} for code, value in examples.items()},
            }
        },
    }


def error_statuses(path: str, method: str, operation: dict) -> list[str]:
    """The 4xx answers an operation may give: bad input and throttling always; 401/403 unless
    anyone may call it; 404 where the path names an object; 409/422 where a key is honoured."""
    statuses = ["400"]
    security = operation.get("security")
    if security and {} not in security:
        statuses += ["401", "403"]
    if "{" in path:
        statuses.append("404")
    if method.upper() in IDEMPOTENT_METHODS:
        statuses += ["409", "422"]
    statuses.append("429")
    return statuses


# --- examples made from the schema ----------------------------------------------------------

_FORMAT_EXAMPLES = {
    "uuid": "3f0c8f4e-6a43-4c1e-9a53-4b1d2f6d9e21",
    "date-time": "2026-12-07T13:40:01Z",
    "date": "2026-12-07",
    "uri": "https://example.com/",
    "email": "ada@example.com",
}


def _resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example_of(schema: dict, components: dict, depth: int = 0) -> Any:
    """A value that fits `schema`: the first of an enum, a formatted string, one item of a list."""
    schema = _resolve(schema, components)
    if depth > 12:
        return None
    for key in ("oneOf", "anyOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, components).get("type") != "null"]
            return example_of(options[0] if options else schema[key][0], components, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next((value for value in schema["enum"] if value is not None), None)
    if "default" in schema:
        return schema["default"]
    if schema.get("examples"):
        return schema["examples"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        if not properties and isinstance(schema.get("additionalProperties"), dict):
            return {"key": example_of(schema["additionalProperties"], components, depth + 1)}
        return {name: example_of(s, components, depth + 1) for name, s in properties.items()}
    if kind == "array":
        return [example_of(schema.get("items", {}), components, depth + 1)]
    if kind == "integer":
        return max(schema.get("minimum", 1), 1) if "maximum" not in schema else schema["maximum"]
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if "format" in schema and schema["format"] in _FORMAT_EXAMPLES:
        return _FORMAT_EXAMPLES[schema["format"]]
    if schema.get("pattern", "").startswith("^[0-9a-f]"):
        return "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    minimum = schema.get("minLength", 0)
    return "EUR" if minimum == 3 == schema.get("maxLength") else "text"[: schema.get("maxLength")]


def _add_generated_example(media: dict, components: dict, summary: str) -> None:
    if "schema" in media and "example" not in media and not media.get("examples"):
        media["examples"] = {
            "example": {"summary": summary, "value": example_of(media["schema"], components)}
        }


# --- the hook ---------------------------------------------------------------------------------


def _operations(result: dict):
    for path, path_item in result.get("paths", {}).items():
        for method, operation in path_item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def add_error_component(result: dict, generator, **kwargs) -> dict:
    """Register `Error`; give every operation its 4xx answers in it (plus `default` for the
    rest), an example of each request and answer, and describe the tags."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    default = {
        "description": "Any other failure, in the one error shape (503 with `Retry-After` when "
        "the service is briefly unavailable).",
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    used_tags: set[str] = set()
    for path, method, operation in _operations(result):
        responses = operation["responses"]
        for status in error_statuses(path, method, operation):
            responses.setdefault(status, _error_response(status))
        responses.setdefault("default", default)
        for status, response in responses.items():
            if re.fullmatch(r"2\d\d", status):
                for media in response.get("content", {}).values():
                    _add_generated_example(media, components, "The answer's shape")
        for media in operation.get("requestBody", {}).get("content", {}).values():
            _add_generated_example(media, components, "The request's shape")
        used_tags.update(operation.get("tags", []))
    result["tags"] = [
        {"name": tag, "description": TAG_DESCRIPTIONS[tag]}
        for tag in sorted(used_tags)
        if tag in TAG_DESCRIPTIONS
    ]
    return result
