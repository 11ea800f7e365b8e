"""The chart of accounts: the codes it names, the limits accounts are made with, and the transfer-id
namespaces, which are persisted idempotency keys and must never change."""

import uuid

import pytest

from ledger import chart
from ledger.errors import BatchFailed
from ledger.models import Account
from ledger.services import TransferRequest, create_transfers

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "code",
    [
        chart.ESCROW,
        chart.FEES,
        chart.BANK_RECEIPTS,
        chart.external("sandbox_card"),
        chart.external("bank_transfer"),
        chart.seller_pending(42),
        chart.seller_available(42),
        chart.seller_reserve(42),
        chart.PAYOUTS_IN_TRANSIT,
        chart.BANK,
        chart.fx("EUR"),
        chart.fx("JPY"),
    ],
)
def test_the_chart_names_its_codes(code):
    assert chart.is_chart_code(code)


@pytest.mark.parametrize(
    "code",
    [
        "platform:other",
        "seller:x:pending",
        "seller:1:float",
        "external:",
        "bench:hot",
        "platform:fx:eur",
        "platform:fx:",
        "platform:fx:EURO",
    ],
)
def test_other_codes_are_not_in_the_chart(code):
    assert not chart.is_chart_code(code)


def _post(debit: int, credit: int, amount: int) -> None:
    create_transfers(
        [
            TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=debit,
                credit_account_id=credit,
                amount_minor=amount,
                currency="EUR",
                reason="test",
            )
        ]
    )


def test_escrow_can_never_go_below_zero_whatever_the_application_checks():
    """Issue 13, defect 8: an over-release is refused by the ledger itself, not only by the
    release service's checks. Escrow holds 100; releasing 101 is refused and changes nothing."""
    card = chart.account(currency="EUR", code=chart.external("sandbox_card"))
    escrow = chart.account(currency="EUR", code=chart.ESCROW)
    pending = chart.account(currency="EUR", code=chart.seller_pending(42))
    _post(card, escrow, 100)

    with pytest.raises(BatchFailed) as refused:
        _post(escrow, pending, 101)

    assert refused.value.reason.code == "exceeds_limit"
    account = Account.objects.get(pk=escrow)
    assert account.debits_must_not_exceed_credits
    assert (account.credits_posted, account.debits_posted) == (100, 0)
    _post(escrow, pending, 100)  # all of it may go


def test_bank_receipts_can_never_go_below_zero():
    receipts = chart.account(currency="EUR", code=chart.BANK_RECEIPTS)
    fees = chart.account(currency="EUR", code=chart.FEES)

    with pytest.raises(BatchFailed) as refused:
        create_transfers(
            [
                TransferRequest(
                    id=uuid.uuid4(),
                    debit_account_id=receipts,
                    credit_account_id=fees,
                    amount_minor=1,
                    currency="EUR",
                    reason="test",
                )
            ]
        )

    assert refused.value.reason.code == "exceeds_limit"
    assert Account.objects.get(pk=receipts).debits_must_not_exceed_credits


def test_an_account_outside_the_chart_is_refused():
    with pytest.raises(AssertionError, match="not in the chart"):
        chart.account(currency="EUR", code="platform:slush")


def test_an_fx_account_is_opened_in_its_own_currency_only():
    assert Account.objects.get(pk=chart.account(currency="EUR", code=chart.fx("EUR"))).code == (
        "platform:fx:EUR"
    )
    with pytest.raises(AssertionError, match="of its own currency"):
        chart.account(currency="USD", code=chart.fx("EUR"))


def test_the_transfer_id_namespaces_never_change():
    # Persisted: a transfer's id is uuid5(namespace, name), so a new value would post again.
    assert str(chart.PAYMENT_TRANSFERS) == "5f0c2a8e-6a55-4c1e-9d0e-6d1f1a6c7b21"
    assert str(chart.RELEASE_TRANSFERS) == "0d7c8f43-51a4-4a8e-b7f5-3f0f9c2b6e11"
    assert str(chart.REFUND_TRANSFERS) == "9a4e2b1c-7d3f-4e8a-a6b5-1c2d3e4f5a6b"
    assert str(chart.TIMEOUT_VOIDS) == "5b0c6f2e-8f0a-4a53-9d0e-2f4b8c1e7a10"
    assert str(chart.MATURATION_TRANSFERS) == "3c6f1d52-0b7e-4f2a-9e81-5d4a7c2b9f30"
    assert str(chart.PAYOUT_TRANSFERS) == "b81e4c07-2d9a-4c55-8f13-6a0e9d7b4c28"
    assert str(chart.FX_TRANSFERS) == "6056924a-5665-478c-836f-14c2db6651d7"


def test_many_accounts_are_found_in_one_query_and_made_with_their_limits(
    django_assert_max_num_queries,
):
    from ledger.services import clear_account_id_cache

    existing = chart.account(currency="EUR", code=chart.seller_available(7))
    clear_account_id_cache()
    pairs = [("EUR", chart.seller_available(7)), ("EUR", chart.PAYOUTS_IN_TRANSIT)]

    found = chart.accounts(pairs)

    assert found[("EUR", chart.seller_available(7))] == existing
    transit = Account.objects.get(pk=found[("EUR", chart.PAYOUTS_IN_TRANSIT)])
    assert transit.code == chart.PAYOUTS_IN_TRANSIT and transit.debits_must_not_exceed_credits
    with django_assert_max_num_queries(1):  # both exist now: one read
        clear_account_id_cache()
        assert chart.accounts(pairs) == found


def test_an_account_made_with_other_limits_is_refused_not_reused():
    from ledger.errors import AccountConflict
    from ledger.services import account_id, clear_account_id_cache

    account_id(currency="EUR", code=chart.PAYOUTS_IN_TRANSIT)  # no limit: not the chart's
    clear_account_id_cache()
    with pytest.raises(AccountConflict):
        chart.accounts([("EUR", chart.PAYOUTS_IN_TRANSIT)])
