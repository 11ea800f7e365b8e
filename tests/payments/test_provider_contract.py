"""One contract, every provider: the same tests run against each PaymentProvider in the registry,
with a small driver per provider that plays the far side (the buyer approving in the wallet, the
bank crediting the account). Differences are declared in ProviderFeatures, never guessed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from payments.providers import sandbox_card, sandbox_wallet
from payments.providers.bank_transfer import sandbox_credit_notification
from payments.providers.base import (
    AuthorizeRequest,
    InvalidNotification,
    NotificationEvent,
    OperationNotSupported,
    PaymentProvider,
    ProviderError,
)
from payments.providers.models import SandboxCardCharge, SandboxWalletTrade
from payments.providers.registry import all_providers, get_provider
from payments.providers.rf_reference import generate
from payments.vault.cards import validate_card
from payments.vault.services import vault_store_card
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC, THREE_DS

pytestmark = pytest.mark.django_db
AMOUNT = 4000


@dataclass
class Driver:
    provider: PaymentProvider
    request: Callable[[str], AuthorizeRequest]
    # Brings an authorisation to "funds held" on the far side; returns the reference.
    complete: Callable[[str], None]
    # A genuine notification from the far side about this reference.
    notification: Callable[[str, AuthorizeRequest], dict]
    records: Callable[[], int]


def _card_driver() -> Driver:
    token = vault_store_card(
        card=validate_card(
            number=SUCCESS, exp_month=12, exp_year=2030, cvc=TEST_CVC, today=dt.date(2026, 1, 1)
        )
    ).token

    def request(key: str) -> AuthorizeRequest:
        return AuthorizeRequest(
            payment_id=str(uuid.uuid4()),
            amount_minor=AMOUNT,
            currency="EUR",
            idempotency_key=key,
            card_token=token,
            cvc=TEST_CVC,
        )

    def notification(reference: str, _request) -> dict:
        return sandbox_card.processor.notification_for(
            SandboxCardCharge.objects.get(reference=reference)
        )

    return Driver(
        get_provider("sandbox_card"),
        request,
        lambda ref: None,
        notification,
        SandboxCardCharge.objects.count,
    )


def _wallet_driver(name: str) -> Callable[[], Driver]:
    def make() -> Driver:
        payment_ids: dict[str, str] = {}

        def request(key: str) -> AuthorizeRequest:
            payment_id = payment_ids.setdefault(key, str(uuid.uuid4()))
            return AuthorizeRequest(
                payment_id=payment_id,
                amount_minor=AMOUNT,
                currency="EUR",
                idempotency_key=key,
                description="Order T1",
                notify_url=f"http://testserver/pay/notify/{name}/",
            )

        def complete(reference: str) -> None:
            sandbox_wallet.wallets[name].buyer_decide(trade_no=reference, approve=True)

        def notification(reference: str, _request) -> dict:
            trade = SandboxWalletTrade.objects.get(trade_no=reference)
            return sandbox_wallet.wallets[name].make_notice(trade).params

        return Driver(
            get_provider(name), request, complete, notification, SandboxWalletTrade.objects.count
        )

    return make


def _bank_driver() -> Driver:
    references: dict[str, str] = {}

    def request(key: str) -> AuthorizeRequest:
        return AuthorizeRequest(
            payment_id=str(uuid.uuid4()),
            amount_minor=AMOUNT,
            currency="EUR",
            idempotency_key=key,
            reference=references.setdefault(key, generate()),
        )

    def notification(reference: str, req: AuthorizeRequest) -> dict:
        return sandbox_credit_notification(
            reference=reference,
            amount_minor=req.amount_minor,
            currency="EUR",
            bank_transaction_id="TX-1",
        )

    return Driver(
        get_provider("bank_transfer"),
        request,
        lambda ref: None,
        notification,
        lambda: len(references),
    )


def _needing_action(driver: Driver, request: AuthorizeRequest) -> AuthorizeRequest:
    """The same request for a card that needs 3-D Secure (the sandbox card's test number)."""
    assert driver.provider.name == "sandbox_card", "add a driver hook for this provider"
    token = vault_store_card(
        card=validate_card(
            number=THREE_DS, exp_month=12, exp_year=2030, cvc=TEST_CVC, today=dt.date(2026, 1, 1)
        )
    ).token
    return replace(request, card_token=token)


DRIVERS = {
    "sandbox_card": _card_driver,
    "alipay": _wallet_driver("alipay"),
    "wechat": _wallet_driver("wechat"),
    "bank_transfer": _bank_driver,
}


def test_every_registered_provider_is_under_contract():
    assert {provider.name for provider in all_providers()} == set(DRIVERS)


@pytest.fixture(params=sorted(DRIVERS))
def driver(request, enqueued) -> Driver:
    return DRIVERS[request.param]()


def authorized(driver: Driver, key: str = "k1") -> str:
    result = driver.provider.authorize(driver.request(key))
    driver.complete(result.reference)
    return result.reference


def test_authorize_reports_a_reference_and_a_known_status(driver):
    result = driver.provider.authorize(driver.request("k1"))
    assert result.reference
    assert result.amount_minor == AMOUNT
    allowed = {"authorized", "failed"} | (
        {"requires_action", "pending"} if driver.provider.features.may_require_action else set()
    )
    assert result.status in allowed
    if result.status in {"requires_action", "pending"}:
        assert result.action and result.action["type"]


def test_authorize_is_idempotent_on_the_key(driver):
    first = driver.provider.authorize(driver.request("same-key"))
    records = driver.records()
    second = driver.provider.authorize(driver.request("same-key"))
    assert second.reference == first.reference
    assert second.status == first.status
    assert driver.records() == records == 1


def test_a_sale_authorises_and_captures_in_one_call_when_declared(driver):
    """AuthorizeRequest(capture=True): a provider with captures_with_authorize answers an
    authorisation that succeeds at once "captured" (all of it), the same again for the same key;
    the charge is then refundable and cannot be captured or voided. Others ignore the flag."""
    request = replace(driver.request("sale-1"), capture=True)
    first = driver.provider.authorize(request)
    if not driver.provider.features.captures_with_authorize:
        assert first.status != "captured"
        assert first.status == driver.provider.authorize(driver.request("plain-1")).status
        return
    assert (first.status, first.amount_minor, first.captured_minor) == ("captured", AMOUNT, AMOUNT)
    again = driver.provider.authorize(request)
    assert (again.status, again.reference, again.captured_minor) == (
        "captured",
        first.reference,
        AMOUNT,
    )
    assert driver.records() == 1
    with pytest.raises(ProviderError):
        driver.provider.capture(reference=first.reference, amount_minor=None, idempotency_key="c1")
    with pytest.raises(ProviderError):
        driver.provider.void(reference=first.reference, idempotency_key="v1")
    refund = driver.provider.refund(
        reference=first.reference, amount_minor=AMOUNT, idempotency_key="r1"
    )
    assert (refund.status, refund.refunded_minor) == ("refunded", AMOUNT)


def test_a_sale_that_needs_the_buyer_first_is_not_captured(driver):
    if not driver.provider.features.captures_with_authorize:
        pytest.skip("declared: no sale")
    if not driver.provider.features.may_require_action:
        pytest.skip("declared: never requires action")
    request = replace(driver.request("sale-3ds"), capture=True)
    result = driver.provider.authorize(_needing_action(driver, request))
    assert (result.status, result.captured_minor) == ("requires_action", 0)


def test_full_capture(driver):
    reference = authorized(driver)
    if driver.provider.features.captures_on_authorize:
        with pytest.raises(OperationNotSupported):
            driver.provider.capture(reference=reference, amount_minor=None, idempotency_key="c1")
        return
    result = driver.provider.capture(reference=reference, amount_minor=None, idempotency_key="c1")
    assert (result.status, result.captured_minor) == ("captured", AMOUNT)


def test_partial_capture_releases_the_rest_and_is_idempotent(driver):
    if not driver.provider.features.supports_partial_capture:
        pytest.skip("declared: no partial capture")
    reference = authorized(driver)
    result = driver.provider.capture(reference=reference, amount_minor=1500, idempotency_key="c1")
    again = driver.provider.capture(reference=reference, amount_minor=1500, idempotency_key="c1")
    assert (result.status, result.captured_minor) == ("captured", 1500)
    assert again == result
    with pytest.raises(ProviderError):  # a second capture (new key) is refused
        driver.provider.capture(reference=reference, amount_minor=100, idempotency_key="c2")


def test_capture_more_than_authorised_is_refused(driver):
    if driver.provider.features.captures_on_authorize:
        pytest.skip("declared: captured on authorisation")
    reference = authorized(driver)
    with pytest.raises(ProviderError):
        driver.provider.capture(reference=reference, amount_minor=AMOUNT + 1, idempotency_key="c1")


def test_void_releases_and_blocks_capture(driver):
    reference = authorized(driver)
    result = driver.provider.void(reference=reference, idempotency_key="v1")
    assert result.status == "voided"
    assert driver.provider.void(reference=reference, idempotency_key="v1") == result
    with pytest.raises(ProviderError):
        driver.provider.capture(reference=reference, amount_minor=None, idempotency_key="c1")


def test_refund_up_to_what_was_captured(driver):
    if not driver.provider.features.supports_refund:
        with pytest.raises(OperationNotSupported):
            driver.provider.refund(reference="x", amount_minor=1, idempotency_key="r1")
        return
    reference = authorized(driver)
    if driver.provider.features.captures_on_authorize:
        # Captured when the money arrived (bank transfer): a refund is a payout, once per key;
        # the platform bounds the amount by what arrived.
        first = driver.provider.refund(reference=reference, amount_minor=1000, idempotency_key="r1")
        again = driver.provider.refund(reference=reference, amount_minor=1000, idempotency_key="r1")
        assert again == first
        assert (first.status, first.refunded_minor) == ("refunded", 1000)
        rest = driver.provider.refund(
            reference=reference, amount_minor=AMOUNT - 1000, idempotency_key="r2"
        )
        assert rest.refunded_minor == AMOUNT
        return
    with pytest.raises(ProviderError):  # nothing captured yet
        driver.provider.refund(reference=reference, amount_minor=100, idempotency_key="r0")
    driver.provider.capture(reference=reference, amount_minor=None, idempotency_key="c1")
    first = driver.provider.refund(reference=reference, amount_minor=1000, idempotency_key="r1")
    assert (
        driver.provider.refund(reference=reference, amount_minor=1000, idempotency_key="r1")
        == first
    )
    assert (first.status, first.refunded_minor) == ("refunded", 1000)
    rest = driver.provider.refund(
        reference=reference, amount_minor=AMOUNT - 1000, idempotency_key="r2"
    )
    assert rest.refunded_minor == AMOUNT
    with pytest.raises(ProviderError):
        driver.provider.refund(reference=reference, amount_minor=1, idempotency_key="r3")


def test_genuine_notification_is_verified(driver):
    request = driver.request("k1")
    reference = driver.provider.authorize(request).reference
    driver.complete(reference)
    event = driver.provider.handle_notification(driver.notification(reference, request))
    assert isinstance(event, NotificationEvent)
    assert (event.provider, event.reference, event.amount_minor, event.currency) == (
        driver.provider.name,
        reference,
        AMOUNT,
        "EUR",
    )


@pytest.mark.parametrize("damage", ["unsigned", "tampered_amount", "garbage_signature"])
def test_damaged_notification_is_refused(driver, damage):
    request = driver.request("k1")
    reference = driver.provider.authorize(request).reference
    driver.complete(reference)
    params = dict(driver.notification(reference, request))
    signature_key = "sign" if "sign" in params else "signature"
    if damage == "unsigned":
        params.pop(signature_key)
    elif damage == "tampered_amount":
        for key in ("total_amount", "amount", "amount_minor"):
            if key in params:
                params[key] = "1.00" if isinstance(params[key], str) else 100
    else:
        params[signature_key] = "bm90IGEgc2lnbmF0dXJl"
    with pytest.raises(InvalidNotification):
        driver.provider.handle_notification(params)
