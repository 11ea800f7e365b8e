"""POST /api/v1/payments/ refuses bad bodies with the same status and the same bytes as when
PaymentCreateSerializer did the validation (the expected bodies were recorded from that code),
except bodies the API's one parser refuses for every endpoint before any view runs (NUL in a
string, a top level that is not an object): those get its parse_error."""

from __future__ import annotations

import json

import pytest

from payments.models import Payment

pytestmark = pytest.mark.django_db
API = "/api/v1/payments/"


def _error(*details: tuple[str | None, str, str]) -> bytes:
    """The one error shape, as DRF's JSONRenderer writes it (compact, UTF-8)."""
    listed = [
        {"field": field, "code": code, "message": message} for field, code, message in details
    ]
    first = listed[0]
    payload = {
        "error": {
            "code": "invalid",
            "message": first["message"],
            "field": first["field"],
            "details": listed,
        }
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _parse_error(message: str, field: str | None = None) -> bytes:
    payload = {"error": {"code": "parse_error", "message": message, "field": field}}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


REQUIRED = "This field is required."
NULL = "This field may not be null."


def _bad_json_bodies(order_id: str) -> list[tuple[object, bytes]]:
    return [
        (
            {},
            _error(("order", "required", REQUIRED), ("method", "required", REQUIRED)),
        ),
        (
            {
                "order": "nope",
                "method": "cash",
                "wallet": "",
                "card": "4242424242424242",
                "return_url": None,
                "capture_method": "later",
                "unknown": 1,
            },
            _error(
                ("order", "invalid", "Must be a valid UUID."),
                ("method", "invalid_choice", '"cash" is not a valid choice.'),
                ("wallet", "invalid_choice", '"" is not a valid choice.'),
                ("card", "invalid", "Invalid data. Expected a dictionary, but got str."),
                ("return_url", "null", NULL),
                ("capture_method", "invalid_choice", '"later" is not a valid choice.'),
            ),
        ),
        (
            {
                "order": order_id,
                "method": "card",
                "card": {
                    "number": True,
                    "exp_month": "   ",
                    "exp_year": "20300",
                    "cvc": None,
                    "holder": ["x"],
                },
            },
            _error(
                ("card.number", "invalid", "Not a valid string."),
                ("card.exp_month", "blank", "This field may not be blank."),
                ("card.exp_year", "max_length", "Ensure this field has no more than 4 characters."),
                ("card.cvc", "null", NULL),
                ("card.holder", "invalid", "Not a valid string."),
            ),
        ),
        (
            {"order": order_id, "method": "card", "card": {"number": "42\u00004", "cvc": 1.5}},
            _parse_error(
                "Text may not contain NUL characters or unpaired surrogates.", "card.number"
            ),
        ),
        (["not", "an", "object"], _parse_error("The request body must be a JSON object.")),
        (None, _parse_error("The request body must be a JSON object.")),
    ]


@pytest.mark.parametrize("case", range(6))
def test_bad_json_bodies_get_the_same_answer_as_before(buyer_client, order, case):
    body, expected = _bad_json_bodies(str(order.id))[case]
    response = buyer_client.post(API, json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.content == expected
    assert Payment.objects.count() == 0


def test_a_form_body_keeps_the_serializers_form_semantics(buyer_client, order):
    # Form and multipart bodies arrive as a QueryDict ("" for an empty field): the serializer
    # still handles those. An empty optional field is dropped rather than refused there.
    response = buyer_client.post(
        API, {"order": "nope", "method": "card", "wallet": "", "card.number": ""}
    )
    assert response.status_code == 400
    assert response.content == _error(
        ("order", "invalid", "Must be a valid UUID."),
        ("card.number", "blank", "This field may not be blank."),
        ("card.exp_month", "required", REQUIRED),
        ("card.exp_year", "required", REQUIRED),
        ("card.cvc", "required", REQUIRED),
    )


def test_a_valid_body_with_padding_and_unknown_fields_pays(buyer_client, order):
    body = {
        "order": str(order.id).upper(),
        "method": "card",
        "card": {
            "number": " 4242424242424242 ",
            "exp_month": 12,
            "exp_year": "2030",
            "cvc": " 947",
        },
        "wallet": None,
        "extra": {"ignored": True},
    }
    response = buyer_client.post(API, json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["card"] == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2030,
    }
