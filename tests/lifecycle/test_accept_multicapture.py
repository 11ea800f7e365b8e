"""Multicapture on every provider that declares it (the contract drivers of tests/payments):
partial captures and releases up to the authorised amount, idempotent per key."""

from __future__ import annotations

import pytest

from payments.providers.base import OperationNotSupported, ProviderError
from tests.payments.test_provider_contract import AMOUNT, DRIVERS, authorized

pytestmark = pytest.mark.django_db


@pytest.fixture(params=sorted(DRIVERS))
def driver(request, enqueued):
    return DRIVERS[request.param]()


def test_parts_are_captured_and_released_up_to_the_authorised_amount(driver):
    provider = driver.provider
    if not provider.features.supports_multicapture:
        with pytest.raises(OperationNotSupported):
            provider.capture_part(reference="x", amount_minor=1, idempotency_key="p1")
        return
    reference = authorized(driver)
    first = provider.capture_part(reference=reference, amount_minor=1500, idempotency_key="p1")
    assert (first.status, first.captured_minor) == ("authorized", 1500)
    assert provider.capture_part(reference=reference, amount_minor=1500, idempotency_key="p1") == (
        first
    )
    with pytest.raises(ProviderError):  # more than what is left uncaptured
        provider.capture_part(reference=reference, amount_minor=AMOUNT, idempotency_key="p2")
    with pytest.raises(ProviderError):  # a whole-charge capture or void would undo the part
        provider.capture(reference=reference, amount_minor=None, idempotency_key="c1")
    with pytest.raises(ProviderError):
        provider.void(reference=reference, idempotency_key="v1")
    refunded = provider.refund(reference=reference, amount_minor=500, idempotency_key="r1")
    assert refunded.refunded_minor == 500  # refund a captured part while the rest is held
    released = provider.release_part(reference=reference, amount_minor=1000, idempotency_key="x1")
    assert released.status == "authorized"
    last = provider.capture_part(reference=reference, amount_minor=1500, idempotency_key="p3")
    assert last.status in {"captured", "refunded"} and last.captured_minor == 3000
    with pytest.raises(ProviderError):  # nothing left
        provider.release_part(reference=reference, amount_minor=1, idempotency_key="x2")


def test_releasing_every_part_voids_the_charge(driver):
    provider = driver.provider
    if not provider.features.supports_multicapture:
        pytest.skip("declared: no multicapture")
    reference = authorized(driver)
    provider.release_part(reference=reference, amount_minor=1000, idempotency_key="x1")
    last = provider.release_part(reference=reference, amount_minor=3000, idempotency_key="x2")
    assert (last.status, last.captured_minor) == ("voided", 0)
