"""The card in hand: the authorisation made in the request that received the card hands the
processor the card in memory (AuthorizeRequest.card) instead of reading back the vault row it has
just written; any other authorisation (a retry, a recovery) has only the token and detokenizes it
from the vault. The outcome is the same either way, and the card shows in no repr or log line."""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import uuid
from dataclasses import replace

import pytest

from payments.flows import authorize
from payments.flows.start import payment_start
from payments.models import Payment
from payments.providers import sandbox_card
from payments.providers.base import AuthorizeRequest
from payments.providers.models import SandboxCardCharge
from payments.providers.registry import get_provider
from payments.vault import services as vault
from payments.vault.cards import validate_card
from payments.vault.models import VaultedCard
from payments.vault.services import card_in_memory, vault_detokenize, vault_store_card
from tests.payments.pay_fixtures import (
    ALL_TEST_CARDS,
    DECLINE,
    PROCESSING,
    SUCCESS,
    TEST_CVC,
    THREE_DS,
)
from tests.payments.test_pay_security import leaks

pytestmark = pytest.mark.django_db
AMEX = "378282246310005"
AMEX_CVC = "4271"


def card(number=SUCCESS, cvc=TEST_CVC, **changes):
    fields = {"exp_month": 12, "exp_year": 2030, "today": dt.date(2026, 1, 1), **changes}
    return validate_card(number=number, cvc=cvc, **fields)


@pytest.fixture
def vault_reads(monkeypatch) -> list[str]:
    """The tokens the processor detokenizes (it imports vault_detokenize at call time)."""
    tokens: list[str] = []
    real = vault.vault_detokenize

    def spy(*, token: str):
        tokens.append(token)
        return real(token=token)

    monkeypatch.setattr(vault, "vault_detokenize", spy)
    return tokens


@pytest.mark.parametrize(
    "typed",
    [
        card(),
        card(number="4242 4242 4242 4242", exp_year="30", holder="  Zoë Ångström-O'Brien "),
        card(number=AMEX, cvc=AMEX_CVC, exp_month="3", holder="J. Doe"),
        card(number="6011111111111117", exp_month=1, exp_year=2027),
    ],
    ids=["visa", "typed-loosely", "amex", "discover"],
)
def test_the_card_in_memory_is_what_the_vault_gives_back_for_its_token(typed):
    stored = vault_store_card(card=typed)
    assert card_in_memory(typed) == vault_detokenize(token=stored.token)


def request_for(typed, *, key: str, in_memory: bool, capture: bool = False) -> AuthorizeRequest:
    return AuthorizeRequest(
        payment_id=str(uuid.uuid4()),
        amount_minor=4000,
        currency="EUR",
        idempotency_key=key,
        card_token=vault_store_card(card=typed).token,
        cvc=typed.cvc,
        card=card_in_memory(typed) if in_memory else None,
        capture=capture,
    )


def _outcome(result) -> tuple:
    # The reference is new per charge; a replayed answer's raw has no "retryable" key (as before).
    raw = {k: v for k, v in result.raw.items() if k not in {"reference", "retryable"}}
    return (result.status, result.failure_code, result.retryable, result.action, raw)


# An expired card cannot be typed today; one typed in 2020 has expired since (the processor reads
# the expiry from the card it is given, so the in-memory card must carry the same one).
EXPIRED_SINCE = card(exp_month=1, exp_year=2021, today=dt.date(2020, 6, 1))


@pytest.mark.parametrize("capture", [False, True], ids=["authorise", "sale"])
@pytest.mark.parametrize(
    "typed",
    [*(card(number) for number in ALL_TEST_CARDS), card(AMEX, AMEX_CVC), EXPIRED_SINCE],
    ids=[*ALL_TEST_CARDS, "amex", "expired-since"],
)
def test_every_test_card_gets_the_same_answer_in_memory_as_from_the_vault(
    vault_reads, typed, capture
):
    provider = get_provider("sandbox_card")
    from_vault = request_for(typed, key="from-vault", in_memory=False, capture=capture)
    in_memory = request_for(typed, key="in-memory", in_memory=True, capture=capture)

    answers = [_outcome(provider.authorize(r)) for r in (from_vault, in_memory)]

    assert answers[0] == answers[1]
    assert vault_reads == [from_vault.card_token]  # the in-memory request read nothing
    charges = {c.idempotency_key: c for c in SandboxCardCharge.objects.all()}
    assert charges["in-memory"].card_token == in_memory.card_token
    assert (charges["in-memory"].brand, charges["in-memory"].last4) == (typed.brand, typed.last4)
    if not answers[1][2]:  # a final answer: the same key gets it back, with the card or without
        assert _outcome(provider.authorize(replace(in_memory, card=None))) == answers[1]


def test_the_sandbox_answers_as_before_for_a_few_outcomes():
    """Pinned answers (not only "the same both ways"), so a shared mistake would show."""
    provider = get_provider("sandbox_card")
    expected = {
        SUCCESS: ("authorized", ""),
        DECLINE: ("failed", "card_declined"),
        PROCESSING: ("failed", "processing_error"),
        THREE_DS: ("requires_action", ""),
    }
    for number, answer in expected.items():
        request = request_for(card(number), key=f"k-{number}", in_memory=True)
        result = provider.authorize(request)
        assert (result.status, result.failure_code) == answer, number


def test_a_card_payment_hands_the_processor_the_card_it_received(order, vault_reads):
    payment = payment_start(order=order, method="card", actor="buyer:1", card=card()).payment

    assert payment.status == "authorized"
    assert vault_reads == []
    charge = SandboxCardCharge.objects.get()
    vaulted = VaultedCard.objects.get()
    assert (charge.card_token, charge.brand, charge.last4) == (vaulted.token, "visa", "4242")
    assert payment.provider_reference == charge.reference


class Crash(Exception):
    pass


@pytest.mark.parametrize(
    ("number", "status"),
    [(SUCCESS, "authorized"), (DECLINE, "failed"), (THREE_DS, "requires_action")],
)
def test_a_retry_of_a_vaulted_card_detokenizes_it_and_gets_the_same_answer(
    order, vault_reads, monkeypatch, number, status
):
    """The first call never reached the processor; the retry is built from the payment alone
    (no card in memory), so the processor reads the card from the vault."""

    def unreachable(**kwargs):
        raise Crash

    with monkeypatch.context() as patched, pytest.raises(Crash):
        patched.setattr(sandbox_card.processor, "create_charge", unreachable)
        payment_start(order=order, method="card", actor="buyer:1", card=card(number))
    payment = Payment.objects.select_related("order", "vaulted_card").get()
    retry = authorize.authorize_request(payment, cvc=TEST_CVC)
    assert retry.card is None

    result = authorize.authorize_with_retries(payment_id=payment.id, request=retry)
    payment = authorize.apply_authorize_result(payment_id=payment.id, result=result, actor="system")

    assert vault_reads == [payment.vaulted_card.token]
    assert payment.status == status
    assert SandboxCardCharge.objects.get().card_token == payment.vaulted_card.token


def test_the_request_shows_no_card_in_repr_str_format_or_pickle():
    typed = card()
    request = request_for(typed, key="k", in_memory=True)
    for shown in (repr(request), str(request), f"{request}", f"{request!r}", repr(request.card)):
        assert leaks(shown, [SUCCESS], [TEST_CVC]) == []
        assert "number" not in shown and "cvc" not in shown
    assert "last4='4242'" in repr(request.card)  # the mask, not nothing at all
    with pytest.raises(TypeError, match="never be serialised"):
        pickle.dumps(request)
    with pytest.raises(TypeError, match="never be serialised"):
        pickle.dumps(request.card)


def test_logging_a_request_or_paying_with_the_card_in_memory_logs_no_card(order, caplog):
    typed = card()
    request = request_for(typed, key="k", in_memory=True)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("payments").info("request %s %r", request, request)
        payment_start(order=order, method="card", actor="buyer:1", card=typed)
    assert any("sandbox_card: charge" in r.getMessage() for r in caplog.records)  # it does log
    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert leaks(text, [SUCCESS], [TEST_CVC]) == []
