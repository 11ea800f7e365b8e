"""The OpenAPI document tells the truth and leaves nothing to guess.

Every answer the suite gets is checked against it as it happens (tests/api/schema_contract.py,
wired in tests/conftest.py); these tests check the document itself.
"""

from __future__ import annotations

import pytest

from tests.api.schema_contract import api_schema, schema_errors, violations_of

METHODS = {"get", "post", "put", "patch", "delete"}


def _operations():
    for path, item in api_schema()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _resolve(schema: dict) -> dict:
    components = api_schema()["components"]["schemas"]
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def free_form_spots(schema: dict, where: str, seen: frozenset = frozenset()) -> list[str]:
    """Where `schema` lets anything through: an object without properties or a typed
    additionalProperties, or no schema at all. `x-free-form` marks a documented exception."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return []
        seen = seen | {schema["$ref"]}
        schema = _resolve(schema)
    if schema.get("x-free-form"):
        return []
    found = []
    for key in ("oneOf", "anyOf", "allOf"):
        for option in schema.get(key, []):
            found += free_form_spots(option, where, seen)
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    composed = any(k in schema for k in ("oneOf", "anyOf", "allOf", "enum", "const"))
    is_object = "object" in kinds or (kinds == [None] and not composed)
    typed_values = isinstance(schema.get("additionalProperties"), dict)
    if is_object and not schema.get("properties") and not typed_values:
        found.append(where)
    for name, sub in schema.get("properties", {}).items():
        found += free_form_spots(sub, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        found += free_form_spots(schema["items"], f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        found += free_form_spots(schema["additionalProperties"], f"{where}{{}}", seen)
    return found


def test_no_operations_request_or_response_schema_is_free_form():
    spots = []
    for path, method, operation in _operations():
        name = f"{method.upper()} {path}"
        for media in operation.get("requestBody", {}).get("content", {}).values():
            spots += free_form_spots(media.get("schema", {}), f"{name} request")
        for status, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                spots += free_form_spots(media.get("schema", {}), f"{name} {status}")

    assert spots == []


def test_free_form_check_finds_an_untyped_object():
    assert free_form_spots({"type": "object"}, "x") == ["x"]
    assert free_form_spots({}, "x") == ["x"]
    assert free_form_spots(
        {"type": "object", "properties": {"a": {"type": "object", "additionalProperties": True}}},
        "x",
    ) == ["x.a"]
    assert (
        free_form_spots({"type": "object", "additionalProperties": {"type": "string"}}, "x") == []
    )


def test_every_operation_is_described_tagged_and_has_examples_that_fit_its_schema():
    problems = []
    for path, method, operation in _operations():
        name = f"{method.upper()} {path}"
        if not operation.get("description"):
            problems.append(f"{name}: no description")
        if len(operation.get("tags", [])) != 1:
            problems.append(f"{name}: tags {operation.get('tags')}")
        bodies = [
            ("request", m) for m in operation.get("requestBody", {}).get("content", {}).values()
        ]
        bodies += [
            (status, media)
            for status, response in operation["responses"].items()
            for media in response.get("content", {}).values()
            if status != "default"
        ]
        for where, media in bodies:
            examples = media.get("examples", {})
            if not examples:
                problems.append(f"{name} {where}: no example")
            for example_name, example in examples.items():
                for error in schema_errors(media["schema"], example["value"]):
                    problems.append(f"{name} {where} example {example_name}: {error}")

    assert problems == []


def test_every_operation_documents_its_4xx_answers_in_the_one_error_shape():
    error = {"$ref": "#/components/schemas/Error"}
    for path, method, operation in _operations():
        responses = operation["responses"]
        expected = {"400", "429", "default"}
        if "{" in path:
            expected.add("404")
        if method != "get":
            expected |= {"409", "422"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for status, response in responses.items():
            if status.startswith("4") or status == "default":
                assert response["content"]["application/json"]["schema"] == error


def test_idempotency_key_is_documented_as_1_to_255_printable_ascii_on_every_unsafe_operation():
    for path, method, operation in _operations():
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        if method == "get":
            assert headers == [], path
            continue
        (key,) = headers
        assert key["name"] == "Idempotency-Key"
        assert key["schema"] == {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": "^[\\x20-\\x7E]+$",
        }


def _query_parameters(path: str, method: str = "get") -> dict[str, dict]:
    operation = api_schema()["paths"][path][method]
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}


@pytest.mark.parametrize(
    ("path", "filters"),
    [
        ("/api/v1/orders", {"status"}),
        ("/api/v1/refunds", {"status"}),
        ("/api/v1/seller/orders", {"status"}),
        ("/api/v1/checkout/sessions", set()),
        ("/api/v1/payments", set()),
        ("/api/v1/events", {"type", "order"}),
        ("/api/v1/payouts", {"status", "currency"}),
        ("/api/v1/settlement-batches", {"currency"}),
        ("/api/v1/products", {"seller", "currency", "mine"}),
    ],
)
def test_list_operations_document_their_filters_cursor_and_limit_bounds(path, filters):
    parameters = _query_parameters(path)

    assert filters | {"cursor", "limit"} <= set(parameters)
    limit = parameters["limit"]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 200)
    results = _resolve(
        api_schema()["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]
    )
    assert set(results["required"]) == {"next", "previous", "results"}


def test_creations_are_documented_as_201():
    paths = api_schema()["paths"]
    for path in (
        "/api/v1/orders",
        "/api/v1/products",
        "/api/v1/payments",
        "/api/v1/checkout/sessions",
        "/api/v1/orders/{order_id}/sub-orders/{sub_order_id}/refunds",
        "/api/v1/orders/{order_id}/sub-orders/{sub_order_id}/dispute",
    ):
        assert set(paths[path]["post"]["responses"]) & {"200", "201"} == {"201"}, path


def test_one_trailing_slash_convention_none():
    assert [p for p in api_schema()["paths"] if p.endswith("/")] == []


def test_tags_name_resources():
    tags = {t for _, _, operation in _operations() for t in operation["tags"]}

    assert {"orders", "payments", "refunds", "seller-orders", "checkout-sessions"} <= tags
    assert "v1" not in tags
    assert {t["name"] for t in api_schema()["tags"]} == tags


# --- the contract check itself --------------------------------------------------------------

ORDER = "/api/v1/orders/3f0c8f4e-6a43-4c1e-9a53-4b1d2f6d9e21"
ERROR_BODY = b'{"error": {"code": "not_found", "message": "No such order.", "field": null}}'


def test_contract_accepts_a_fitting_error_answer():
    assert violations_of("GET", ORDER, 404, "application/json", ERROR_BODY) == []


def test_contract_refuses_an_undocumented_success_status():
    (problem,) = violations_of("POST", "/api/v1/orders", 200, "application/json", b"{}")

    assert "status 200 is not documented" in problem


def test_contract_refuses_a_body_that_does_not_fit():
    problems = violations_of("GET", ORDER, 200, "application/json", b'{"id": "x"}')

    assert problems and all(p.startswith(f"GET {ORDER} -> 200") for p in problems)


def test_contract_refuses_an_error_outside_the_one_shape():
    problems = violations_of("GET", ORDER, 404, "application/json", b'{"detail": "Not found."}')

    assert problems


@pytest.mark.django_db
def test_served_schema_is_openapi_3_1_and_the_one_checked(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    served = response.json()
    assert served["openapi"] == "3.1.0"
    assert set(api_schema()["paths"]) <= set(served["paths"])
