"""Card input checks: Luhn, length, expiry, CVC per brand; masking; never serialisable."""

import datetime as dt
import pickle

import pytest

from core.errors import ValidationError
from payments.vault.cards import card_brand, luhn_valid, validate_card

TODAY = dt.date(2026, 11, 25)


def check(**overrides):
    fields = {"number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2030", "cvc": "947"}
    fields.update(overrides)
    return validate_card(**fields, today=TODAY)


def test_valid_card_is_normalised():
    card = check(holder="  Ada Lovelace ")
    assert (card.number, card.brand, card.last4) == ("4242424242424242", "visa", "4242")
    assert (card.exp_month, card.exp_year, card.cvc, card.holder) == (
        12,
        2030,
        "947",
        "Ada Lovelace",
    )


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3566002020360505", "jcb"),
        ("6200000000000005", "unionpay"),
    ],
)
def test_brands(number, brand):
    assert luhn_valid(number)
    assert card_brand(number) == brand


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"number": ""}, "number"),
        ({"number": "4242 4242 4242 4241"}, "number"),  # Luhn fails
        ({"number": "4242-abcd-4242-4242"}, "number"),
        ({"number": "42424242"}, "number"),  # too short
        ({"number": "378282246310005", "cvc": "947"}, "cvc"),  # amex needs 4 digits
        ({"cvc": ""}, "cvc"),
        ({"cvc": "94"}, "cvc"),
        ({"cvc": "9a7"}, "cvc"),
        ({"exp_month": "13"}, "exp"),
        ({"exp_month": ""}, "exp"),
        ({"exp_month": "10", "exp_year": "2026"}, "exp"),  # expired last month
        ({"exp_year": "2099"}, "exp"),
        ({"exp_year": "20x0"}, "exp"),
    ],
)
def test_bad_input_names_the_field_and_never_repeats_it(overrides, field):
    with pytest.raises(ValidationError) as caught:
        check(**overrides)
    assert caught.value.field == field
    assert "4242" not in caught.value.message and "947" not in caught.value.message


def test_card_valid_through_end_of_expiry_month():
    assert check(exp_month="11", exp_year="26").exp_year == 2026


def test_repr_masks_number_and_cvc():
    card = check()
    text = repr(card) + str(card)
    assert "4242424242424242" not in text and "947" not in text
    assert "************4242" in text


def test_card_input_refuses_to_be_pickled():
    with pytest.raises(TypeError):
        pickle.dumps(check())
