"""The API's answers must be what /api/schema/ says they are.

`SchemaContractMiddleware` (added to the test settings while pytest runs) checks every /api/v1/
answer the suite gets against the OpenAPI document: the status must be documented (a 2xx the
schema does not list, e.g. 200 where it says 201, is a violation) and the JSON body must validate
against that status's schema (JSON Schema 2020-12: the document is OpenAPI 3.1). Violations are
collected, and tests/conftest.py fails the test that produced them.

Paths no operation of the project's schema matches (test-only views) are checked only for the
error shape of a 404 (the API's catch-all).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

API_PREFIX = "/api/v1/"
VIOLATIONS: list[str] = []


@functools.cache
def api_schema() -> dict:
    """The project's OpenAPI document, as /api/schema/ serves it (made once per process)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    schema = SchemaGenerator(urlconf="config.urls").get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


@functools.cache
def _path_patterns() -> list[tuple[re.Pattern, str]]:
    """(regex, template) for every path, literal ones first (/seller-profiles/me before
    /seller-profiles/{id})."""
    templates = sorted(api_schema()["paths"], key=lambda t: (t.count("{"), t))
    return [
        (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) + "$"), t)
        for t in templates
    ]


def operation_for(method: str, path: str) -> dict | None:
    for pattern, template in _path_patterns():
        if pattern.match(path):
            return api_schema()["paths"][template].get(method.lower())
    return None


@functools.cache
def _validator(schema_json: str) -> Draft202012Validator:
    # The components ride along in the root, so "#/components/schemas/X" resolves.
    root = {"components": api_schema()["components"], "allOf": [json.loads(schema_json)]}
    return Draft202012Validator(root, format_checker=FormatChecker())


def schema_errors(schema: dict, value: Any) -> list[str]:
    validator = _validator(json.dumps(schema, sort_keys=True))
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(value)
    ][:5]


ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/Error"}


def violations_of(method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
    """What is wrong with this answer by the schema (empty when it fits)."""
    where = f"{method} {path} -> {status}"
    is_json = content_type.split(";")[0].strip() == "application/json"
    operation = operation_for(method, path)
    if operation is None:
        # No route of the project's (test-only views answer as their tests need): only the
        # catch-all's 404 is the API's to shape.
        if status == 404 and is_json:
            return [f"{where}: {e}" for e in schema_errors(ERROR_SCHEMA_REF, json.loads(body))]
        return []
    responses = operation["responses"]
    response = responses.get(str(status))
    if response is None:
        if status < 400:
            return [f"{where}: status {status} is not documented (has {sorted(responses)})"]
        response = responses["default"]
    media = response.get("content", {}).get("application/json")
    if media is None or "schema" not in media:
        return (
            [] if not body else ([f"{where}: a body where none is documented"] if is_json else [])
        )
    if not is_json:
        return [f"{where}: documented as JSON, answered {content_type!r}"]
    return [f"{where}: {e}" for e in schema_errors(media["schema"], json.loads(body))]


class SchemaContractMiddleware:
    """Outermost: sees every /api/v1/ answer as the client gets it (replays and errors too)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX) and not getattr(response, "streaming", False):
            try:
                VIOLATIONS.extend(
                    violations_of(
                        request.method,
                        request.path,
                        response.status_code,
                        response.get("Content-Type", ""),
                        response.content,
                    )
                )
            except Exception as exc:
                VIOLATIONS.append(f"{request.method} {request.path}: schema check broke: {exc!r}")
        return response


def take_violations() -> list[str]:
    taken = list(VIOLATIONS)
    VIOLATIONS.clear()
    return taken
