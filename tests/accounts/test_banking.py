"""The bank-account rules on their own (no database)."""

import pytest

from accounts import banking


@pytest.mark.parametrize(
    "number", ["021000021", "011000015", "121000358", "026009593", "322271627"]
)
def test_real_aba_routing_numbers_pass(number):
    assert banking.aba_routing_number_is_valid(number)


@pytest.mark.parametrize(
    "number",
    [
        "021000022",  # last digit off: checksum fails
        "012000021",  # two digits swapped
        "990000000",  # checksum holds, but 99 is no Federal Reserve prefix
        "02100002",  # 8 digits
        "0210000211",  # 10 digits
        "02100002a",
        "",
    ],
)
def test_bad_aba_routing_numbers_fail(number):
    assert not banking.aba_routing_number_is_valid(number)


def test_which_countries_use_iban():
    assert banking.uses_iban("DE") and banking.uses_iban("GB") and banking.uses_iban("BR")
    assert not banking.uses_iban("US") and not banking.uses_iban("JP")
    assert not banking.uses_iban("SN")  # IBAN only "aspirational" there: domestic rules


def test_iban_is_compacted_and_bic_filled_in_from_the_iban():
    account = banking.validate_bank_account(
        country="DE",
        iban="de89 3704 0044 0532 0130 00",
        bic="",
        account_number="",
        routing_number="",
    )
    assert account == banking.BankAccount(iban="DE89370400440532013000", bic="COBADEFFXXX")


def test_sepa_seller_may_use_another_sepa_countrys_iban():
    account = banking.validate_bank_account(
        country="DE",
        iban="FR1420041010050500013M02606",
        bic="PSSTFRPPXXX",
        account_number="",
        routing_number="",
    )
    assert account.iban == "FR1420041010050500013M02606"


def test_non_sepa_seller_must_use_its_own_countrys_iban():
    with pytest.raises(banking.BankAccountErrors) as caught:
        banking.validate_bank_account(
            country="AE",
            iban="DE89370400440532013000",
            bic="COBADEFFXXX",
            account_number="",
            routing_number="",
        )
    assert "must be in AE" in caught.value.errors["iban"]


def test_bic_of_another_country_is_refused():
    with pytest.raises(banking.BankAccountErrors) as caught:
        banking.validate_bank_account(
            country="DE",
            iban="DE89370400440532013000",
            bic="CHASUS33XXX",
            account_number="",
            routing_number="",
        )
    assert caught.value.errors == {"bic": "This BIC is for a bank in US, but the IBAN is for DE."}


def test_japanese_account_takes_bank_and_branch_code():
    account = banking.validate_bank_account(
        country="JP", iban="", bic="", account_number="1234567", routing_number="0001-001"
    )
    assert account == banking.BankAccount(account_number="1234567", routing_number="0001001")


@pytest.mark.parametrize(
    ("country", "account_number", "routing_number", "field"),
    [
        ("JP", "123456", "0001001", "account_number"),  # 6 digits: JP accounts have 7
        ("JP", "1234567", "000100", "routing_number"),
        ("US", "12AB5678", "021000021", "account_number"),
        ("US", "123", "021000021", "account_number"),
        ("CA", "1234567", "0031234", "routing_number"),
        ("AU", "12345678", "06200", "routing_number"),
        ("NZ", "1", "123456", "account_number"),  # fallback rule: 4-20 digits
        (
            "US",
            "\uff11\uff12\uff13\uff14\uff15\uff16\uff17",
            "021000021",
            "account_number",
        ),  # full-width digits
    ],
)
def test_domestic_formats(country, account_number, routing_number, field):
    with pytest.raises(banking.BankAccountErrors) as caught:
        banking.validate_bank_account(
            country=country,
            iban="",
            bic="",
            account_number=account_number,
            routing_number=routing_number,
        )
    assert set(caught.value.errors) == {field}


def test_iban_for_a_country_without_iban_is_refused():
    with pytest.raises(banking.BankAccountErrors) as caught:
        banking.validate_bank_account(
            country="US",
            iban="DE89370400440532013000",
            bic="",
            account_number="",
            routing_number="",
        )
    assert "US does not use IBAN" in caught.value.errors["iban"]


def test_all_blank_is_no_account_yet():
    assert (
        banking.validate_bank_account(
            country="US", iban=" ", bic="", account_number="", routing_number="  "
        )
        == banking.BankAccount()
    )
