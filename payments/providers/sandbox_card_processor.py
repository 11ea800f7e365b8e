"""The sandbox card processor: the far side of the wire, inside the process.

`SandboxCardProcessor` plays a remote card processor inside the process: it keeps its own records
(SandboxCardCharge, keyed by its own "ch_..." reference), answers a repeated idempotency key with
its first answer, gets the card number (as a processor receives the PAN) from the authorisation
request when the platform has the card in hand (AuthorizeRequest.card: the request that received
it) or else through the vault's detokenize, and decides by the test card numbers below. It never
stores the number or the CVC.

Test cards (Stripe's well-known numbers; any future expiry and any CVC of the right length):

    4242424242424242  succeeds (authorised)
    4000000000000002  declined: generic decline            (card_declined)
    4000000000009995  declined: insufficient funds          (insufficient_funds)
    4000000000000069  declined: expired card                (expired_card)
    4000000000000127  declined: incorrect CVC               (incorrect_cvc)
    4000000000000119  processing error, retryable           (processing_error)
    4000000000003220  3-D Secure challenge required         (requires_action)

Any other valid number succeeds. A processing error is not a final answer: it is not stored under
the idempotency key, so the platform's retry with the same key is processed again.

A "sale" (create_charge(capture=True), AuthorizeRequest.capture): a charge that succeeds at once is
authorised and captured in the same statement ("captured", captured_minor = amount); a 3-D Secure
card still answers requires_action (the platform captures after the challenge), a decline
declines. The answer under the key is the stored charge, as for any authorisation.

Its charge records are written by payments/providers/sandbox_card_sql.py's statements.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from core import crypto
from core.fast_sql import fetch_all as fast_call
from payments.providers.base import ProviderError
from payments.providers.models import SandboxCardCharge, SandboxOperation
from payments.providers.sandbox_card_sql import (
    CHARGE_FIELDS,
    UPSERT_CHARGE,
    UPSERT_CHARGE_ASYNC,
    charge_dict,
    charge_state,
)
from payments.vault import services as vault

if TYPE_CHECKING:
    from payments.vault.services import DetokenizedCard

logger = logging.getLogger(__name__)


PROCESSOR_NAME = "sandbox_card"

# The sandbox's test numbers (public, as every processor's are): the demo, the drills and the
# benches pay with these names, not copies of the digits.
SUCCEEDS = "4242424242424242"
DECLINED = "4000000000000002"

TEST_CARDS: dict[str, str] = {
    SUCCEEDS: "success",
    DECLINED: "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
    "4000000000000119": "processing_error",
    "4000000000003220": "three_d_secure",
}

RETRYABLE_CODES = frozenset({"processing_error"})


def webhook_secret() -> bytes:
    # Per environment, derived from the secret key: nothing extra to configure for the sandbox.
    return crypto.hmac_sha256(settings.SECRET_KEY.encode(), b"clearhouse/sandbox_card/webhook")


def sign(params: dict) -> str:
    message = json.dumps(params, sort_keys=True, separators=(",", ":")).encode()
    return crypto.hmac_sha256(webhook_secret(), message).hex()


def _decide(card, cvc: str) -> str:
    """The processor's answer for this card: a TEST_CARDS outcome, or "success"."""
    outcome = TEST_CARDS.get(card.number, "success")
    today = timezone.now().date()
    if (card.exp_year, card.exp_month) < (today.year, today.month):
        outcome = "expired_card"
    if not cvc or not cvc.isdigit():
        outcome = "incorrect_cvc"
    return outcome


class SandboxCardProcessor:
    """The far side. Its methods stand for HTTPS calls to a processor's API."""

    name = PROCESSOR_NAME

    @sensitive_variables("cvc", "card")
    def create_charge(
        self,
        *,
        idempotency_key: str,
        card_token: str,
        cvc: str,
        amount_minor: int,
        currency: str,
        description: str = "",
        capture: bool = False,
        card: DetokenizedCard | None = None,
    ) -> dict:
        """Authorise (a "sale" with capture=True: authorise and capture at once, when no 3-D
        Secure challenge stands in the way). Same key, same answer. `card`: the card behind
        card_token when the caller has it in hand (as a real processor is sent the card on a
        first charge); without it the card is read from the vault.

        At most two statements, with no transaction of its own: the card (one SELECT, none when
        `card` is given), then the charge claimed and written by one INSERT ... ON CONFLICT, which
        takes over a stored retryable failure under the same key and leaves any final answer as
        it is (same key, same answer; the stored answer is then read and returned)."""
        if card is None:
            try:
                card = vault.vault_detokenize(token=card_token)
            except vault.VaultError:
                stored = self._stored_answer(idempotency_key, amount_minor, currency)
                if stored is not None:
                    return stored
                return {"status": "failed", "failure_code": "card_not_found", "reference": ""}
        now = timezone.now()
        status, failure_code, challenge_expires_at, captured = charge_state(
            _decide(card, cvc), capture=capture, amount_minor=amount_minor, now=now
        )
        rows = fast_call(
            UPSERT_CHARGE if connection.in_atomic_block else UPSERT_CHARGE_ASYNC,
            [
                "ch_" + secrets.token_urlsafe(18),
                idempotency_key,
                card_token,
                card.brand,
                card.last4,
                amount_minor,
                currency,
                status,
                captured,
                failure_code,
                challenge_expires_at,
                now,
                now,
                sorted(RETRYABLE_CODES),
            ],
        )
        if not rows:  # a final answer is stored under this key (or another request's amount)
            stored = self._stored_answer(idempotency_key, amount_minor, currency)
            assert stored is not None, "the conflicting charge is committed"
            return stored
        result = dict(zip(CHARGE_FIELDS, rows[0], strict=True))
        result["retryable"] = result["failure_code"] in RETRYABLE_CODES
        logger.info(
            "sandbox_card: charge %s attempt %d -> %s %s",
            result["reference"],
            result["attempts"],
            result["status"],
            result["failure_code"],
        )
        return result

    def _stored_answer(self, idempotency_key: str, amount_minor: int, currency: str) -> dict | None:
        """The stored final answer under this key; a stored retryable failure for other
        parameters is refused; None when there is nothing final to answer with."""
        charge = SandboxCardCharge.objects.filter(idempotency_key=idempotency_key).first()
        if charge is None:
            return None
        if charge.failure_code not in RETRYABLE_CODES:
            return charge_dict(charge)
        if charge.amount_minor != amount_minor or charge.currency != currency:
            raise ProviderError(
                "Idempotency key reused with other parameters.", code="idempotency_mismatch"
            )
        return None

    def find_by_key(self, *, idempotency_key: str) -> dict | None:
        charge = SandboxCardCharge.objects.filter(idempotency_key=idempotency_key).first()
        return None if charge is None else charge_dict(charge)

    def retrieve(self, *, reference: str) -> dict:
        charge = SandboxCardCharge.objects.filter(reference=reference).first()
        if charge is None:
            raise ProviderError("No such charge.", code="no_such_charge")
        return charge_dict(charge)

    def complete_challenge(self, *, reference: str, outcome: str) -> dict:
        """The issuer's challenge page answered: "pass", "fail" or "abandon" (cancel or timeout).
        Returns the signed notification the processor sends about it."""
        assert outcome in {"pass", "fail", "abandon"}
        with transaction.atomic():
            charge = (
                SandboxCardCharge.objects.select_for_update().filter(reference=reference).first()
            )
            if charge is None:
                raise ProviderError("No such charge.", code="no_such_charge")
            if charge.status == "requires_action":
                if outcome == "pass" and charge.challenge_expires_at > timezone.now():
                    charge.status = "authorized"
                else:
                    charge.status = "failed"
                    charge.failure_code = (
                        "authentication_failed" if outcome == "fail" else "authentication_abandoned"
                    )
                charge.save(update_fields=["status", "failure_code", "updated_at"])
        return self.notification_for(charge)

    def notification_for(self, charge: SandboxCardCharge) -> dict:
        params = {
            "notify_id": f"evt_{charge.reference}_{charge.status}",
            "type": "charge.updated",
            "reference": charge.reference,
            "status": charge.status,
            "amount_minor": charge.amount_minor,
            "currency": charge.currency,
            "failure_code": charge.failure_code,
            "idempotency_key": charge.idempotency_key,
        }
        return {**params, "signature": sign(params)}

    def _operation(self, *, kind: str, reference: str, amount_minor: int | None, key: str) -> dict:
        try:
            with transaction.atomic():
                # Claim the key first: a repeated call (or a concurrent one, after waiting on it)
                # fails the insert and answers with the first call's result.
                operation = SandboxOperation.objects.create(
                    processor=self.name,
                    idempotency_key=key,
                    reference=reference,
                    kind=kind,
                    amount_minor=amount_minor or 0,
                )
                charge = (
                    SandboxCardCharge.objects.select_for_update()
                    .filter(reference=reference)
                    .first()
                )
                if charge is None:
                    raise ProviderError("No such charge.", code="no_such_charge")
                released = 0
                if kind in {"capture_part", "release_part"}:
                    released = sum(
                        SandboxOperation.objects.filter(
                            processor=self.name, reference=reference, kind="release_part"
                        )
                        .exclude(pk=operation.pk)
                        .values_list("amount_minor", flat=True)
                    )
                _apply_operation(charge, kind, amount_minor, released=released)
                charge.save(
                    update_fields=["status", "captured_minor", "refunded_minor", "updated_at"]
                )
                operation.result = charge_dict(charge)
                operation.save(update_fields=["result"])
        except IntegrityError:
            return SandboxOperation.objects.get(processor=self.name, idempotency_key=key).result
        return operation.result

    def capture(self, *, reference: str, amount_minor: int | None, idempotency_key: str) -> dict:
        """Capture all of an authorised charge (amount_minor None) or part of it, by one call of
        payments_sandbox_capture: it claims the key (same key, same answer; a refusal leaves
        nothing behind, so a retry under the key is processed again), locks the charge and
        applies the rules (no_such_charge, multicapture, not_authorized, amount_out_of_range)."""
        if amount_minor is not None and not (type(amount_minor) is int and amount_minor < 2**63):
            raise ProviderError(
                _CAPTURE_REFUSALS["amount_out_of_range"], code="amount_out_of_range"
            )
        outcome, result = fast_call(
            "SELECT * FROM payments_sandbox_capture(%s::text, %s::text, %s::text, %s::bigint)",
            [self.name, idempotency_key, reference, amount_minor],
        )[0]
        if outcome in {"captured", "replay"}:
            return json.loads(result) if isinstance(result, str | bytes) else result
        raise ProviderError(_CAPTURE_REFUSALS[outcome], code=outcome)

    def void(self, *, reference: str, idempotency_key: str) -> dict:
        return self._operation(
            kind="void", reference=reference, amount_minor=None, key=idempotency_key
        )

    def capture_part(self, *, reference: str, amount_minor: int, idempotency_key: str) -> dict:
        return self._operation(
            kind="capture_part", reference=reference, amount_minor=amount_minor, key=idempotency_key
        )

    def release_part(self, *, reference: str, amount_minor: int, idempotency_key: str) -> dict:
        return self._operation(
            kind="release_part", reference=reference, amount_minor=amount_minor, key=idempotency_key
        )

    def refund(self, *, reference: str, amount_minor: int, idempotency_key: str) -> dict:
        return self._operation(
            kind="refund", reference=reference, amount_minor=amount_minor, key=idempotency_key
        )


processor = SandboxCardProcessor()

# The capture refusals of payments_sandbox_capture, by code (the function answers with the code).
_CAPTURE_REFUSALS = {
    "no_such_charge": "No such charge.",
    "multicapture": "This charge is being captured in parts.",
    "not_authorized": "Only an authorised charge can be captured.",
    "amount_out_of_range": "Capture amount out of range.",
}


def _apply_operation(
    charge: SandboxCardCharge, kind: str, amount_minor: int | None, *, released: int = 0
) -> None:
    """The processor's rules for parts (capture_part, release_part), void and refund (raises
    ProviderError when refused; a whole capture is payments_sandbox_capture's).

    Multicapture: `capture_part` and `release_part` take pieces of what is still uncaptured
    (amount - captured - released, `released` being the earlier release_part amounts); the charge
    stays "authorized" until nothing is left, then becomes "captured" (or "voided")."""
    if kind in {"capture_part", "release_part"}:
        if charge.status != "authorized":
            raise ProviderError("Only an authorised charge can be captured.", code="not_authorized")
        uncaptured = charge.amount_minor - charge.captured_minor - released
        if amount_minor is None or not 0 < amount_minor <= uncaptured:
            raise ProviderError("Amount out of range.", code="amount_out_of_range")
        if kind == "capture_part":
            charge.captured_minor += amount_minor
        if uncaptured - amount_minor == 0:
            charge.status = "captured" if charge.captured_minor else "voided"
        return
    if kind == "void":
        if charge.captured_minor:
            raise ProviderError("Part of this charge is captured.", code="not_voidable")
        if charge.status not in {"authorized", "requires_action"}:
            raise ProviderError("Only an uncaptured charge can be voided.", code="not_voidable")
        charge.status = "voided"
    elif kind == "refund":
        # A charge captured in parts may be refunded while the rest is still authorised.
        if charge.status not in {"captured", "refunded"} and not charge.captured_minor:
            raise ProviderError("Only a captured charge can be refunded.", code="not_captured")
        if (
            amount_minor is None
            or not 0 < amount_minor <= charge.captured_minor - charge.refunded_minor
        ):
            raise ProviderError("Refund amount out of range.", code="amount_out_of_range")
        charge.refunded_minor += amount_minor
        if charge.status != "authorized":
            charge.status = "refunded"
    else:
        raise AssertionError(f"unknown operation {kind}")
