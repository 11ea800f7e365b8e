"""Cursor pagination, the sensitive throttle, and the OpenAPI schema and docs page."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import override_settings
from django.utils import timezone

from core.models import IdempotencyKey

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.urls")]

KEYS = "/api/v1/test/keys"


def make_keys(count: int, *, created_at=None) -> list[int]:
    created_at = created_at or timezone.now()
    return [
        IdempotencyKey.objects.create(
            scope_digest=f"{i:064d}",
            key=f"k{i}",
            principal="p",
            method="POST",
            path="/",
            request_fingerprint="f",
            created_at=created_at,
        ).pk
        for i in range(count)
    ]


def walk(client, url: str) -> list[int]:
    seen: list[int] = []
    for _page in range(50):
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        if not body["next"]:
            return seen
        url = body["next"]
    raise AssertionError("pagination did not end")


class TestCursorPagination:
    def test_rows_created_at_the_same_instant_are_each_listed_once_newest_id_first(
        self, api_client
    ):
        ids = make_keys(7)

        seen = walk(api_client, KEYS + "?limit=2")

        assert seen == sorted(ids, reverse=True)

    def test_newest_first(self, api_client):
        older = make_keys(1, created_at=timezone.now() - timezone.timedelta(hours=1))
        IdempotencyKey.objects.filter(pk=older[0]).update(scope_digest="o" * 64)
        newer = make_keys(1)

        assert walk(api_client, KEYS) == [newer[0], older[0]]

    # One integer rule (core.integers.text_integer): ASCII digits only, where int() would take
    # "+5", "1_0", " 7" or Arabic-Indic digits.
    @pytest.mark.parametrize(
        "limit", ["0", "-1", "abc", "201", "%2B5", "1_0", "%D9%A1%D9%A2", "2.0", "1e1", ""]
    )
    def test_bad_limit_is_400_on_the_limit_field(self, api_client, limit):
        response = api_client.get(KEYS + f"?limit={limit}")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid"
        assert response.json()["error"]["field"] == "limit"

    def test_bad_cursor_is_400_invalid_cursor(self, api_client):
        response = api_client.get(KEYS + "?cursor=not-a-cursor")

        assert response.status_code == 400
        assert response.json()["error"] == {
            "code": "invalid_cursor",
            "message": "The cursor is not valid: use the `next` or `previous` link as given.",
            "field": "cursor",
        }


def test_sensitive_throttle_applies_on_top_of_the_defaults(api_client):
    rates = {"anon": "100/min", "user": "100/min", "sensitive": "1/min"}
    with override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ):
        first = api_client.post("/api/v1/test/sensitive")
        second = api_client.post("/api/v1/test/sensitive")
        elsewhere = api_client.post("/api/v1/test/post-only")

    assert (first.status_code, second.status_code, elsewhere.status_code) == (200, 429, 200)
    assert second.json()["error"]["code"] == "throttled"


def test_forged_x_forwarded_for_does_not_dodge_the_anonymous_limit(api_client):
    rates = {"anon": "1/min", "user": "100/min", "sensitive": "100/min"}
    with override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ):
        statuses = [
            api_client.post(
                "/api/v1/test/post-only", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"
            ).status_code
            for i in range(2)
        ]

    assert statuses == [200, 429]


def test_schema_lists_the_error_shape_and_the_idempotency_header(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Clearhouse API"
    assert "Error" in schema["components"]["schemas"]
    post = schema["paths"]["/api/v1/test/effects"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= post["parameters"][0].items()
    assert post["responses"]["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    get = schema["paths"]["/api/v1/test/keys"]["get"]
    assert all(p["name"] != "Idempotency-Key" for p in get.get("parameters", []))


def test_docs_page_loads_its_assets_from_static_not_a_cdn(api_client):
    response = api_client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        path = f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"
        assert f"/static/{path}" in html
        assert finders.find(path), f"{path} is not among the static files"
    # Every asset the page loads is ours (no CDN, no other host).
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 4
    assert all(url.startswith("/static/") for url in assets), assets
