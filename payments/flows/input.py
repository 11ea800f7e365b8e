"""The body of POST /api/v1/payments/, checked without building a DRF serializer.

That call is the API's hottest, and instantiating PaymentCreateSerializer deep-copies every declared
field on each request (~0.4 ms CPU, about 5% of a payment). `parse_payment_create` gives exactly what
`PaymentCreateSerializer(data=...).is_valid(raise_exception=True)` gives: the same validated_data,
or a ValidationError with the same detail (keys in field order, messages, codes), so the API's
answers are the same bytes. PaymentCreateSerializer (below) stays the reference
and the OpenAPI schema; tests/payments/test_payment_input.py holds the two to each other.

It mirrors DRF 3.x semantics for what the JSON parser can produce (dict, list, str, int, float,
bool, None): CharField (blank checked first, numbers coerced with str(), whitespace trimmed before
max_length, null and surrogate characters refused), UUIDField (str via uuid.UUID(hex=...), int
via uuid.UUID(int=...)), ChoiceField (looked up by str(value)), and the nested card serializer.
A QueryDict (form or multipart body) has HTML-form semantics, so it goes to the serializer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.fields import CharField, ChoiceField, Field, UUIDField
from rest_framework.serializers import Serializer
from rest_framework.settings import api_settings
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from payments.flows.capture import CAPTURE_MANUAL, CAPTURE_METHODS
from payments.flows.models import PaymentMethod

# The declarations of PaymentCreateSerializer / CardInputSerializer (a test checks they agree).
# ChoiceField maps str(input) to the declared choice.
METHODS: dict[str, str] = {str(value): value for value, _label in PaymentMethod.choices}
WALLETS: dict[str, str] = {value: value for value in ("alipay", "wechat")}
CAPTURES: dict[str, str] = {value: value for value in CAPTURE_METHODS}
# (name, max_length, required); the optional ones allow blank and default to "".
CARD_FIELDS: tuple[tuple[str, int, bool], ...] = (
    ("number", 32, True),
    ("exp_month", 4, True),
    ("exp_year", 4, True),
    ("cvc", 4, True),
    ("holder", 100, False),
)
RETURN_URL_MAX_LENGTH = 500

# DRF's own (lazy, translatable) messages, so the words are the serializer's.
_REQUIRED = Field.default_error_messages["required"]
_NULL = Field.default_error_messages["null"]
_NOT_STRING = CharField.default_error_messages["invalid"]
_BLANK = CharField.default_error_messages["blank"]
_MAX_LENGTH = CharField.default_error_messages["max_length"]
_BAD_UUID = UUIDField.default_error_messages["invalid"]
_BAD_CHOICE = ChoiceField.default_error_messages["invalid_choice"]
_NOT_A_DICT = Serializer.default_error_messages["invalid"]
_NULL_CHARACTERS = ProhibitNullCharactersValidator.message
_SURROGATE = ProhibitSurrogateCharactersValidator.message

_ABSENT = object()


class _Invalid(Exception):
    """One field's errors: a list of ErrorDetail (a dict for the nested card)."""

    def __init__(self, detail: list[ErrorDetail] | dict[str, Any]) -> None:
        self.detail = detail


def _fail(message: Any, code: str, **kwargs: Any) -> _Invalid:
    return _Invalid([ErrorDetail(message.format(**kwargs), code=code)])


def _char(value: Any, max_length: int, *, optional: bool = False) -> str:
    """CharField(max_length=...), or with required=False, allow_blank=True, default=""."""
    if isinstance(value, str):
        text = value.strip()
        if not text:  # DRF tests for blank before anything else
            if optional:
                return ""
            raise _fail(_BLANK, "blank")
    elif value is _ABSENT:
        if optional:
            return ""
        raise _fail(_REQUIRED, "required")
    elif value is None:
        raise _fail(_NULL, "null")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(_NOT_STRING, "invalid")
    else:
        text = str(value).strip()
    # The field's validators, all run and all reported: max length, null and surrogate characters.
    errors: list[ErrorDetail] = []
    if len(text) > max_length:
        message = _MAX_LENGTH.format(max_length=max_length)
        params = {"limit_value": max_length, "show_value": len(text), "value": text}
        errors.append(ErrorDetail(message % params, code="max_length"))
    if "\x00" in text:
        message = str(_NULL_CHARACTERS) % {"value": text}
        errors.append(ErrorDetail(message, code="null_characters_not_allowed"))
    if not text.isascii():  # only the first surrogate is reported
        for character in text:
            if 0xD800 <= ord(character) <= 0xDFFF:
                message = _SURROGATE.format(code_point=ord(character))
                errors.append(ErrorDetail(message, code="surrogate_characters_not_allowed"))
                break
    if errors:
        raise _Invalid(errors)
    return text


def _uuid(value: Any) -> uuid.UUID:
    if value is _ABSENT:
        raise _fail(_REQUIRED, "required")
    if value is None:
        raise _fail(_NULL, "null")
    if isinstance(value, uuid.UUID):
        return value
    try:
        if isinstance(value, int):  # bool too, as in DRF: true is UUID int 1
            return uuid.UUID(int=value)
        if isinstance(value, str):
            return uuid.UUID(hex=value)
    except ValueError:
        pass
    raise _fail(_BAD_UUID, "invalid")


def _choice(value: Any, choices: dict[str, str]) -> str:
    try:
        return choices[str(value)]
    except KeyError:
        raise _fail(_BAD_CHOICE, "invalid_choice", input=value) from None


def _not_a_dict(value: Any) -> dict[str, list[ErrorDetail]]:
    message = _NOT_A_DICT.format(datatype=type(value).__name__)
    return {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail(message, code="invalid")]}


def _card(value: Mapping[str, Any]) -> dict[str, str]:
    card: dict[str, str] = {}
    errors: dict[str, Any] = {}
    for name, max_length, required in CARD_FIELDS:
        try:
            card[name] = _char(value.get(name, _ABSENT), max_length, optional=not required)
        except _Invalid as exc:
            errors[name] = exc.detail
    if errors:
        raise _Invalid(errors)
    return card


def _is_form(value: Any) -> bool:
    # DRF's html.is_html_input: a QueryDict reads "" as absent and nests "card.number" keys.
    return hasattr(value, "getlist")


def parse_payment_create(data: Any) -> dict[str, Any]:
    """request.data of POST /api/v1/payments/ -> PaymentCreateSerializer's validated_data.

    Raises rest_framework ValidationError with the serializer's own detail on bad input.
    """
    if not isinstance(data, Mapping):
        if data is None:  # Serializer.errors' special case for a null body
            detail = ErrorDetail("No data provided", code="null")
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [detail]})
        raise ValidationError(_not_a_dict(data))
    card = data.get("card", _ABSENT)
    if _is_form(data) or _is_form(card):
        return _parse_with_serializer(data)

    out: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    try:
        out["order"] = _uuid(data.get("order", _ABSENT))
    except _Invalid as exc:
        errors["order"] = exc.detail
    method = data.get("method", _ABSENT)
    try:
        if method is _ABSENT:
            raise _fail(_REQUIRED, "required")
        if method is None:
            raise _fail(_NULL, "null")
        out["method"] = _choice(method, METHODS)
    except _Invalid as exc:
        errors["method"] = exc.detail
    wallet = data.get("wallet", _ABSENT)
    if wallet is not _ABSENT:  # optional without a default: absent stays absent, null is None
        try:
            out["wallet"] = None if wallet is None else _choice(wallet, WALLETS)
        except _Invalid as exc:
            errors["wallet"] = exc.detail
    if card is not _ABSENT:
        if card is None:
            out["card"] = None
        elif not isinstance(card, Mapping):
            errors["card"] = _not_a_dict(card)
        else:
            try:
                out["card"] = _card(card)
            except _Invalid as exc:
                errors["card"] = exc.detail
    try:
        out["return_url"] = _char(
            data.get("return_url", _ABSENT), RETURN_URL_MAX_LENGTH, optional=True
        )
    except _Invalid as exc:
        errors["return_url"] = exc.detail
    capture_method = data.get("capture_method", _ABSENT)
    try:
        if capture_method is _ABSENT:
            out["capture_method"] = CAPTURE_MANUAL
        elif capture_method is None:
            raise _fail(_NULL, "null")
        else:
            out["capture_method"] = _choice(capture_method, CAPTURES)
    except _Invalid as exc:
        errors["capture_method"] = exc.detail
    if errors:
        raise ValidationError(errors)
    return out


class CardInputSerializer(serializers.Serializer):
    # Plain strings: validate_card does the checking (and its messages never repeat the input).
    number = serializers.CharField(max_length=32, trim_whitespace=True)
    exp_month = serializers.CharField(max_length=4)
    exp_year = serializers.CharField(max_length=4)
    cvc = serializers.CharField(max_length=4)
    holder = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class PaymentCreateSerializer(serializers.Serializer):
    order = serializers.UUIDField()
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    wallet = serializers.ChoiceField(choices=["alipay", "wechat"], required=False, allow_null=True)
    card = CardInputSerializer(required=False, allow_null=True)
    return_url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    # "automatic": authorise and capture (into escrow) in this call, as Stripe's default.
    capture_method = serializers.ChoiceField(
        choices=list(CAPTURE_METHODS), required=False, default=CAPTURE_MANUAL
    )


def _parse_with_serializer(data: Any) -> dict[str, Any]:
    body = PaymentCreateSerializer(data=data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)
