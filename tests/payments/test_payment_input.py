"""parse_payment_create gives exactly what PaymentCreateSerializer gives: the same validated data
(keys, order, types, defaults) or a ValidationError with the same detail (keys in the same order,
messages, codes), for a table of bodies and for random JSON-like bodies."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from payments.flows import input as payment_input
from payments.flows.input import CardInputSerializer, PaymentCreateSerializer, parse_payment_create

ORDER = "6f1c2a52-8e0b-4c7f-9a3e-1b2c3d4e5f60"
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "947"}


def _shape(value: Any) -> Any:
    """Order-sensitive, type-sensitive picture of validated data or an error detail."""
    if isinstance(value, dict):
        return [(key, _shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_shape(item) for item in value]
    if isinstance(value, ErrorDetail):
        return ("error", str(value), value.code)
    return (type(value).__name__, value)


def outcome(parse, body: Any) -> tuple[Any, ...]:
    try:
        data = parse(body)
    except ValidationError as exc:
        return ("invalid", exc.detail, exc.get_codes(), _shape(exc.detail))
    return ("valid", data, _shape(data))


def by_serializer(body: Any) -> dict[str, Any]:
    serializer = PaymentCreateSerializer(data=body)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def assert_same(body: Any) -> tuple[Any, ...]:
    expected = outcome(by_serializer, body)
    got = outcome(parse_payment_create, body)
    assert got == expected
    return got


def card(**fields: Any) -> dict[str, Any]:
    return {**CARD, **fields}


def body(**fields: Any) -> dict[str, Any]:
    return {"order": ORDER, "method": "card", "card": CARD, **fields}


VALID = [
    body(),
    body(card=card(holder="Ada Lovelace")),
    body(card=card(number=" 4242 4242 4242 4242 ", cvc="\t947\n", holder="  ")),
    body(card=card(exp_month=12, exp_year=2030, cvc=947)),  # numbers become strings
    body(card=card(exp_month=1.5)),
    body(card=card(number=" " + "4" * 32 + " ")),  # max_length counts after trimming
    body(card=card(extra="ignored"), unknown={"nested": [1]}),
    body(card=None),
    body(card={**CARD, "holder": ""}),
    body(order=ORDER.upper()),
    body(order=ORDER.replace("-", "")),
    body(order="{" + ORDER + "}"),
    body(order="urn:uuid:" + ORDER),
    body(order=12345),  # DRF reads an integer as the UUID's 128-bit number
    body(order=True),  # ... and a boolean as an integer
    {"order": ORDER, "method": "wallet", "wallet": "alipay"},
    {"order": ORDER, "method": "wallet", "wallet": None},
    {"order": ORDER, "method": "bank_transfer"},
    body(return_url="  https://shop.example/back  "),
    body(return_url=""),
    body(capture_method="automatic"),
    body(capture_method="manual"),
    body(return_url=7),
]

INVALID = [
    {},
    {"order": ORDER},
    {"method": "card"},
    body(order=None),
    body(order=""),
    body(order="nope"),
    body(order=ORDER[:-1]),
    body(order=-1),
    body(order=2**128),
    body(order=1.0),
    body(order=[ORDER]),
    body(order={"id": ORDER}),
    body(method=None),
    body(method=""),
    body(method="cash"),
    body(method="CARD"),
    body(method=1),
    body(method=True),
    body(method=["card"]),
    body(method={"card": 1}),
    body(wallet=""),
    body(wallet="paypal"),
    body(wallet=False),
    body(card="4242424242424242"),
    body(card=[]),
    body(card=42),
    body(card=True),
    body(card={}),
    body(card=card(number=None)),
    body(card=card(number="")),
    body(card=card(number="   ")),
    body(card=card(number=True)),
    body(card=card(number=["4242"])),
    body(card=card(number={"a": 1})),
    body(card=card(number="4" * 33)),
    body(card=card(cvc="12345")),
    body(card=card(cvc="1\x00")),
    body(card=card(cvc="1\x00\ud800\udfff" * 2)),  # too long, null and surrogate: all three
    body(card=card(holder="\ud83d")),
    body(card=card(holder="é\x00")),
    body(card=card(exp_year=2030.0)),  # "2030.0" is too long
    body(card=card(exp_month=None, exp_year="", cvc=False, holder=None)),
    body(card={"number": CARD["number"]}),
    body(return_url=None),
    body(return_url=False),
    body(return_url="x" * 501),
    body(capture_method=None),
    body(capture_method=""),
    body(capture_method="later"),
    body(capture_method=0),
    {
        "order": "nope",
        "method": "cash",
        "wallet": "",
        "card": "x",
        "return_url": None,
        "capture_method": "later",
    },
    None,
    [],
    [body()],
    "body",
    "",
    0,
    1.5,
    True,
]


@pytest.mark.parametrize("data", VALID)
def test_valid_bodies_give_the_serializers_data(data):
    assert assert_same(data)[0] == "valid"


@pytest.mark.parametrize("data", INVALID)
def test_bad_bodies_give_the_serializers_errors(data):
    assert assert_same(data)[0] == "invalid"


def test_typical_outcomes_are_what_the_caller_relies_on():
    data = parse_payment_create(body(card=card(number=" 4242424242424242 ")))
    assert data == {
        "order": uuid.UUID(ORDER),
        "method": "card",
        "card": {**CARD, "holder": ""},
        "return_url": "",
        "capture_method": "manual",
    }
    assert "wallet" not in data
    with pytest.raises(ValidationError) as caught:
        parse_payment_create({"method": "card", "card": card(cvc="")})
    assert caught.value.get_codes() == {"order": ["required"], "card": {"cvc": ["blank"]}}


def test_form_bodies_are_left_to_the_serializer():
    form = QueryDict("order=nope&method=card&wallet=&card.number=", mutable=True)
    assert assert_same(form)[0] == "invalid"
    # In a form an empty nullable field reads as null (in JSON "" is not a valid choice).
    form = QueryDict(f"order={ORDER}&method=wallet&wallet=", mutable=True)
    assert assert_same(form)[2] == [
        ("order", ("UUID", uuid.UUID(ORDER))),
        ("method", ("str", "wallet")),
        ("wallet", ("NoneType", None)),
        ("return_url", ("str", "")),
        ("capture_method", ("str", "manual")),
    ]


def test_decimals_are_not_strings_to_drf_either():
    # DRF's CharField takes str, int and float only (a Decimal is refused), so does the parser.
    assert assert_same(body(card=card(cvc=Decimal("947"))))[2] == {"card": {"cvc": ["invalid"]}}


def test_the_parser_follows_the_serializers_declarations():
    fields = PaymentCreateSerializer().fields
    assert list(fields) == ["order", "method", "wallet", "card", "return_url", "capture_method"]

    def choice(name: str) -> tuple[bool, bool, Any, dict[str, Any]]:
        field = fields[name]
        assert isinstance(field, serializers.ChoiceField) and not field.allow_blank
        return (field.required, field.allow_null, field.default, field.choice_strings_to_values)

    empty = serializers.empty
    assert choice("method") == (True, False, empty, payment_input.METHODS)
    assert choice("wallet") == (False, True, empty, payment_input.WALLETS)
    assert choice("capture_method") == (False, False, "manual", payment_input.CAPTURES)
    assert isinstance(fields["order"], serializers.UUIDField) and fields["order"].required

    def char(field: serializers.Field) -> tuple[Any, ...]:
        assert type(field) is serializers.CharField and field.trim_whitespace
        assert not field.allow_null and field.min_length is None
        return (field.max_length, field.required, field.allow_blank, field.default)

    assert char(fields["return_url"]) == (payment_input.RETURN_URL_MAX_LENGTH, False, True, "")
    card_field = fields["card"]
    assert isinstance(card_field, CardInputSerializer)
    assert (card_field.required, card_field.allow_null) == (False, True)
    declared = [(name, char(field)) for name, field in card_field.fields.items()]
    assert declared == [
        (name, (max_length, True, False, serializers.empty))
        if required
        else (name, (max_length, False, True, ""))
        for name, max_length, required in payment_input.CARD_FIELDS
    ]


# --- random JSON-like bodies ----------------------------------------------------------------

# Any character, lone surrogates and NUL included (JSON's \ud800 and \u0000 escapes give them).
_any_text = st.text(st.characters(exclude_categories=()), max_size=40)
_texty = st.one_of(
    _any_text,
    st.sampled_from(
        [
            "",
            " ",
            "\t\n",
            ORDER,
            ORDER.upper(),
            " " + ORDER,
            ORDER.replace("-", ""),
            "card",
            "wallet",
            "bank_transfer",
            "alipay",
            "wechat",
            "manual",
            "automatic",
            "Card",
            "12",
            " 947 ",
            "2030",
            "4242424242424242",
            "4" * 32,
            "4" * 33,
            "x" * 100,
            "x" * 101,
            "x" * 500,
            "x" * 501,
            "1\x00",
            "\ud800",
        ]
    ),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=0, max_value=2**128),
    st.floats(allow_nan=False, allow_infinity=False),
    _texty,
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texty, inner, max_size=3),
    max_leaves=6,
)


def _either(*good: Any) -> st.SearchStrategy[Any]:
    """Mostly a value the serializer accepts, else a string or any JSON value: both outcomes."""
    kinds = {"good": st.sampled_from(good), "text": _texty, "json": _json}
    return st.sampled_from(["good"] * 8 + ["text", "json"]).flatmap(kinds.__getitem__)


def _objects(fields: dict[str, st.SearchStrategy[Any]], required: list[str]) -> Any:
    """Dicts with any subset of the fields, or with the required ones always there."""
    return st.one_of(
        st.fixed_dictionaries({}, optional=fields),
        st.fixed_dictionaries(
            {name: fields[name] for name in required},
            optional={name: value for name, value in fields.items() if name not in required},
        ),
    )


_card_bodies = _objects(
    {
        "number": _either(CARD["number"], " 4242424242424242 ", 4242424242424242),
        "exp_month": _either("12", 12, " 1 "),
        "exp_year": _either("2030", 2030),
        "cvc": _either("947", 947, "1234"),
        "holder": _either("", "Ada Lovelace", "  "),
        "unknown": _json,
    },
    ["number", "exp_month", "exp_year", "cvc"],
)
_bodies = _objects(
    {
        "order": _either(ORDER, ORDER.upper(), ORDER.replace("-", ""), 12345),
        "method": _either("card", "wallet", "bank_transfer"),
        "wallet": _either(None, "alipay", "wechat"),
        "card": st.one_of(_card_bodies, _card_bodies, _json),
        "return_url": _either("", " https://shop.example/ ", 5),
        "capture_method": _either("manual", "automatic"),
        "unknown": _json,
    },
    ["order", "method", "card"],
)


@settings(
    max_examples=1500,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.one_of(_bodies, _bodies, _bodies, _json))
def test_random_bodies_give_what_the_serializer_gives(data):
    assert_same(data)
