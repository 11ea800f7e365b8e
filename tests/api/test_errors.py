"""Every API failure answers {"error": {"code", "message", "field"}} with a stable code."""

import pytest
from django.conf import settings
from django.test import Client, override_settings

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.urls")]

ERRORS = "/api/v1/test/errors/"


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "field"} <= set(error)
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_validation_error_names_the_first_field_and_lists_all(api_client):
    response = api_client.post(
        ERRORS + "validation",
        {"currency": "EURO", "lines": [{"amount_minor": 5}, {}]},
        format="json",
    )

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["field"] == "amount_minor"
    assert error["message"] == "This field is required."
    assert error["details"] == [
        {"field": "amount_minor", "code": "required", "message": "This field is required."},
        {
            "field": "currency",
            "code": "max_length",
            "message": "Ensure this field has no more than 3 characters.",
        },
        {
            "field": "lines[1].amount_minor",
            "code": "required",
            "message": "This field is required.",
        },
    ]


def test_non_field_validation_error_has_no_field(api_client):
    response = api_client.post(
        ERRORS + "validation", {"amount_minor": 5, "currency": "XXX"}, format="json"
    )

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["field"] is None
    assert error["details"] == [
        {"field": None, "code": "no_xxx", "message": "XXX is not a currency for payments."}
    ]


def test_malformed_json_is_a_parse_error(api_client):
    response = api_client.post(
        ERRORS + "validation", data='{"amount_minor": 5,', content_type="application/json"
    )

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "parse_error"
    assert error["field"] is None


def test_application_error_keeps_code_status_and_field(api_client):
    response = api_client.post(ERRORS + "conflict")

    assert response.status_code == 409
    assert error_of(response) == {
        "code": "conflict",
        "message": "The order is already paid.",
        "field": "order",
    }


def test_application_error_subclass_with_extra(api_client):
    response = api_client.post(ERRORS + "domain")

    assert response.status_code == 422
    assert error_of(response) == {
        "code": "insufficient_funds",
        "message": "The balance does not cover this amount.",
        "field": "amount_minor",
        "extra": {"available_minor": 500},
    }


def test_django_http404_is_not_found(api_client):
    response = api_client.get(ERRORS + "http404")

    assert response.status_code == 404
    assert error_of(response) == {
        "code": "not_found",
        "message": "No Order matches the given query.",
        "field": None,
    }


def test_django_permission_denied_is_403(api_client):
    response = api_client.get(ERRORS + "django_permission")

    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


def test_django_validation_error_is_400_invalid(api_client):
    response = api_client.get(ERRORS + "django_validation")

    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["field"]) == ("invalid", "email")
    assert error["message"] == "Enter a valid email address."


def test_missing_credentials_are_401_with_www_authenticate(api_client):
    response = api_client.get("/api/v1/test/private")

    assert response.status_code == 401
    assert response["WWW-Authenticate"]
    assert error_of(response) == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "field": None,
    }


def test_permission_denied_is_403(api_client):
    from accounts.models import User

    api_client.force_authenticate(User.objects.create_user(email="buyer@example.test"))

    response = api_client.get("/api/v1/test/forbidden")

    assert response.status_code == 403
    assert error_of(response) == {
        "code": "permission_denied",
        "message": "Only the owner may do this.",
        "field": None,
    }


def test_method_not_allowed_is_405(api_client):
    response = api_client.get("/api/v1/test/post-only")

    assert response.status_code == 405
    assert response["Allow"].startswith("POST")
    assert error_of(response) == {
        "code": "method_not_allowed",
        "message": 'Method "GET" not allowed.',
        "field": None,
    }


def test_unsupported_media_type_is_415(api_client):
    response = api_client.post("/api/v1/test/post-only", data="a=1", content_type="text/csv")

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_not_acceptable_is_406(api_client):
    response = api_client.get(ERRORS + "conflict", HTTP_ACCEPT="application/xml")

    assert response.status_code == 406
    assert error_of(response)["code"] == "not_acceptable"


def test_throttled_is_429_with_retry_after(api_client):
    rates = {"anon": "2/min", "user": "100/min", "sensitive": "100/min"}
    with override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ):
        statuses = [api_client.post("/api/v1/test/post-only").status_code for _ in range(3)]
        response = api_client.post("/api/v1/test/post-only")

    assert statuses == [200, 200, 429]
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert error_of(response)["code"] == "throttled"


def test_unknown_api_url_is_json_404_even_with_debug_on():
    with override_settings(DEBUG=True):
        response = Client().post("/api/v1/no-such-thing/", data={"a": 1})

    assert response.status_code == 404
    assert error_of(response) == {
        "code": "not_found",
        "message": "No API endpoint at /api/v1/no-such-thing.",
        "field": None,
    }


def test_one_trailing_slash_convention_a_slash_added_by_the_client_reaches_the_same_view(
    api_client,
):
    assert api_client.get("/api/v1/test/keys").status_code == 200
    assert api_client.get("/api/v1/test/keys/").status_code == 200


def test_unknown_api_path_is_a_404_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/test/no-such-thing")

    assert response.status_code == 404
    assert error_of(response)["message"] == "No API endpoint at /api/v1/test/no-such-thing."


def test_unexpected_exception_under_api_is_json_500():
    client = Client(raise_request_exception=False)

    response = client.get(ERRORS + "crash")

    assert response.status_code == 500
    assert error_of(response)["code"] == "server_error"


def test_pages_outside_api_keep_html_errors():
    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
