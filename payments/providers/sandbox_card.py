"""The platform's client for the sandbox card processor
(payments/providers/sandbox_card_processor.py): `SandboxCardProvider`, the PaymentProvider. 3-D Secure outcomes come back as a notification the
processor signs with HMAC-SHA256 (as Stripe signs webhooks); the provider verifies it before
anything is believed.
"""

from __future__ import annotations

import logging

from core import crypto
from payments.providers.base import (
    AuthorizeRequest,
    InvalidNotification,
    NotificationEvent,
    PaymentProvider,
    ProviderFeatures,
    ProviderResult,
)
from payments.providers.sandbox_card_processor import (
    PROCESSOR_NAME,
    SandboxCardProcessor,
    processor,
    sign,
)

logger = logging.getLogger(__name__)


def _result(response: dict) -> ProviderResult:
    status = response["status"]
    return ProviderResult(
        status=status,
        reference=response.get("reference", ""),
        amount_minor=response.get("amount_minor", 0),
        captured_minor=response.get("captured_minor", 0),
        refunded_minor=response.get("refunded_minor", 0),
        failure_code=response.get("failure_code", ""),
        retryable=bool(response.get("retryable")),
        action={"type": "three_d_secure"} if status == "requires_action" else None,
        raw={k: v for k, v in response.items() if k != "idempotency_key"},
    )


class SandboxCardProvider(PaymentProvider):
    name = PROCESSOR_NAME
    method = "card"
    features = ProviderFeatures(
        may_require_action=True, supports_multicapture=True, captures_with_authorize=True
    )

    def __init__(self, remote: SandboxCardProcessor | None = None) -> None:
        self.remote = remote or processor

    def authorize(self, request: AuthorizeRequest) -> ProviderResult:
        return _result(
            self.remote.create_charge(
                idempotency_key=request.idempotency_key,
                card_token=request.card_token,
                cvc=request.cvc,
                amount_minor=request.amount_minor,
                currency=request.currency,
                description=request.description,
                capture=request.capture,
                card=request.card,  # None unless the platform holds the card in this request
            )
        )

    def capture(
        self, *, reference: str, amount_minor: int | None, idempotency_key: str
    ) -> ProviderResult:
        return _result(
            self.remote.capture(
                reference=reference, amount_minor=amount_minor, idempotency_key=idempotency_key
            )
        )

    def void(self, *, reference: str, idempotency_key: str) -> ProviderResult:
        return _result(self.remote.void(reference=reference, idempotency_key=idempotency_key))

    def capture_part(
        self, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> ProviderResult:
        return _result(
            self.remote.capture_part(
                reference=reference, amount_minor=amount_minor, idempotency_key=idempotency_key
            )
        )

    def release_part(
        self, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> ProviderResult:
        return _result(
            self.remote.release_part(
                reference=reference, amount_minor=amount_minor, idempotency_key=idempotency_key
            )
        )

    def refund(self, *, reference: str, amount_minor: int, idempotency_key: str) -> ProviderResult:
        return _result(
            self.remote.refund(
                reference=reference, amount_minor=amount_minor, idempotency_key=idempotency_key
            )
        )

    def complete_challenge(self, *, reference: str, outcome: str) -> dict:
        return self.remote.complete_challenge(reference=reference, outcome=outcome)

    def lookup(self, *, idempotency_key: str) -> ProviderResult | None:
        found = self.remote.find_by_key(idempotency_key=idempotency_key)
        return None if found is None else _result(found)

    def handle_notification(self, params: dict) -> NotificationEvent:
        if not isinstance(params, dict) or not params.get("signature"):
            raise InvalidNotification("The notification is not signed.", code="unsigned")
        signature = params["signature"]
        body = {k: v for k, v in params.items() if k != "signature"}
        try:
            expected = sign(body)
        except TypeError as exc:
            raise InvalidNotification("Malformed notification.", code="malformed") from exc
        if not crypto.constant_time_equal(str(signature), expected):
            raise InvalidNotification("The signature does not match.", code="bad_signature")
        try:
            return NotificationEvent(
                provider=self.name,
                notify_id=str(body["notify_id"]),
                reference=str(body["reference"]),
                payment_id="",
                status=body["status"],
                amount_minor=int(body["amount_minor"]),
                currency=str(body["currency"]),
                raw=body,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidNotification("Malformed notification.", code="malformed") from exc
