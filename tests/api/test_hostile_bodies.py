"""Hostile bodies and query strings against every API endpoint, generated from the URL conf: a new
endpoint is covered without editing this test. Each answer is a 4xx in the one error shape (never
a 500), a body the API's parser refuses is a 400 parse_error naming the field where there is one,
and nothing is written."""

from __future__ import annotations

import re
import uuid

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tests.storefront.factories import BuyerFactory, SellerFactory, StaffFactory

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")

HOSTILE_BODIES: dict[str, tuple[str, str | None]] = {
    # name: (raw JSON body, the field the error must name)
    "number": ("1.5", None),
    "null": ("null", None),
    "true": ("true", None),
    "array": ('["a"]', None),
    "deep_arrays": ("[" * 10_000 + "]" * 10_000, None),
    "deep_objects": ('{"a":' * 10_000 + "1" + "}" * 10_000, None),
    "nul_in_value": ('{"metadata": {"note": "a\\u0000b"}}', "metadata.note"),
    "nul_in_key": ('{"metadata": {"a\\u0000": "b"}}', "metadata"),
    "lone_surrogate": ('{"reason": "\\ud800"}', "reason"),
    "surrogate_in_list": ('{"line_items": [{"name": "\\udfff"}]}', "line_items[0].name"),
    "duplicate_key": ('{"amount_minor": 1, "amount_minor": 2}', "amount_minor"),
    "nan": ('{"amount_minor": NaN}', None),
    "not_utf8": ('{"reason": "\xff"}', None),
}


def _routes() -> list[tuple[str, str]]:
    """(route as a regex or path pattern, method) for every write operation under /api/."""
    found = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if not route.startswith("api/"):
                    continue
                actions = getattr(pattern.callback, "actions", None)
                view = getattr(pattern.callback, "cls", None)
                if actions:
                    methods = [m for m in actions if m in WRITE_METHODS]
                elif view is not None:
                    methods = [m for m in WRITE_METHODS if hasattr(view, m)]
                else:
                    methods = []
                found.extend((route, method) for method in methods)

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


def _concrete(route: str) -> str:
    """A path for the route: ids that exist nowhere (the parser must not depend on them)."""
    path = route.replace("^", "").replace("$", "")
    path = re.sub(r"<uuid:\w+>", str(uuid.uuid4()), path)
    path = re.sub(r"<int:\w+>", "1", path)
    path = re.sub(r"<(str:)?\w+>", "x", path)
    path = re.sub(r"\(\?P<token>[^)]*\)", "tok_x", path)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)
    return "/" + path


def _row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for app in ("core", "accounts", "ledger", "payments", "settlement")
        for model in apps.get_app_config(app).get_models()
    }


ROUTES = _routes()


def test_the_url_conf_gives_write_endpoints_to_try():
    paths = {route for route, _method in ROUTES}
    assert len(ROUTES) >= 25
    assert "api/v1/orders" in paths
    assert "api/v1/checkout/sessions" in paths


@pytest.fixture(scope="module")
def users(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        made = {"buyer": BuyerFactory(), "seller": SellerFactory(), "staff": StaffFactory()}
    yield made
    with django_db_blocker.unblock():
        for user in made.values():
            user.delete()


@pytest.mark.parametrize(("route", "method"), ROUTES)
def test_hostile_bodies_get_a_clear_4xx_and_change_nothing(route, method, users):
    path = _concrete(route)
    parsed_somewhere = False
    for role, user in users.items():
        client = APIClient()
        client.force_authenticate(user)
        before = _row_counts()
        for name, (body, field) in HOSTILE_BODIES.items():
            response = getattr(client, method)(
                path, data=body.encode("utf-8", "surrogatepass"), content_type="application/json"
            )
            where = f"{method.upper()} {path} as {role} with {name}"
            assert 400 <= response.status_code < 500, f"{where}: {response.status_code}"
            error = response.json()["error"]
            assert error["code"] and error["message"], where
            if error["code"] == "parse_error":
                parsed_somewhere = True
                if field is not None:
                    assert error["field"] == field, f"{where}: {error}"
        assert _row_counts() == before, f"{method.upper()} {path} as {role} wrote something"
    # Routes without ids reach the body for some role; the others may refuse on the id first.
    if "<" not in route and "(?P" not in route and method != "delete":
        assert parsed_somewhere, f"{method.upper()} {path}: the parser never ran"


QUERY_ROUTES = sorted(
    {route for route, _method in ROUTES if "<" not in route and "(?P" not in route}
)


@pytest.mark.parametrize("route", QUERY_ROUTES)
@pytest.mark.parametrize("query", ["?status=a%00", "?cursor=%00", "?a%00=1"])
def test_nul_in_a_query_string_is_a_400(route, query, users):
    client = APIClient()
    client.force_authenticate(users["staff"])
    before = _row_counts()

    response = client.get(_concrete(route) + query)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "parse_error"
    assert _row_counts() == before
