"""Bank transfer into the platform's own account.

There is no processor: the buyer is given the platform's account (settings PLATFORM_BANK_IBAN,
PLATFORM_BANK_BIC, PLATFORM_BANK_NAME) and an ISO 11649 RF reference, and the payment completes
when money quoting that reference reaches the account. Arrivals are recorded through one service,
payments.flows.bank_arrivals.bank_transfer_record_arrival (staff in admin, `manage.py
record_incoming_transfer`, or the bank's signed credit notification below).

Features: the money is captured when it arrives (nothing to capture later, no partial capture);
before it arrives the reference can be closed (void); a refund is an outgoing bank payment back to
the buyer. In the sandbox that payout is recorded (SandboxOperation, one per idempotency key) and
reported paid at once; a real bank answers the same through the settlement side's gateway.
"""

from __future__ import annotations

import json

from django.conf import settings

from core import crypto
from payments import conf
from payments.amounts import decimal_to_minor, minor_to_decimal
from payments.providers.base import (
    AuthorizeRequest,
    InvalidNotification,
    NotificationEvent,
    OperationNotSupported,
    PaymentProvider,
    ProviderError,
    ProviderFeatures,
    ProviderResult,
)
from payments.providers.models import SandboxOperation
from payments.providers.rf_reference import is_valid, normalize

NAME = "bank_transfer"
SANDBOX_PROCESSOR = "sandbox_bank"


def _feed_secret() -> bytes:
    return crypto.hmac_sha256(settings.SECRET_KEY.encode(), b"clearhouse/sandbox_bank/credit-feed")


def _sign(params: dict) -> str:
    message = json.dumps(params, sort_keys=True, separators=(",", ":")).encode()
    return crypto.hmac_sha256(_feed_secret(), message).hex()


def sandbox_credit_notification(
    *, reference: str, amount_minor: int, currency: str, bank_transaction_id: str
) -> dict:
    """What the (sandbox) bank sends when money arrives on the platform's account."""
    params = {
        "notify_id": bank_transaction_id,
        "reference": reference,
        "amount": minor_to_decimal(amount_minor, currency),
        "currency": currency,
        "iban": conf.get("PLATFORM_BANK_IBAN"),
    }
    return {**params, "signature": _sign(params)}


def account_details() -> dict:
    return {
        "iban": conf.get("PLATFORM_BANK_IBAN"),
        "bic": conf.get("PLATFORM_BANK_BIC"),
        "account_name": conf.get("PLATFORM_BANK_NAME"),
    }


class BankTransferProvider(PaymentProvider):
    name = NAME
    method = "bank_transfer"
    features = ProviderFeatures(
        captures_on_authorize=True,
        supports_partial_capture=False,
        may_require_action=True,
        supports_void=True,
        supports_refund=True,
    )

    def authorize(self, request: AuthorizeRequest) -> ProviderResult:
        reference = normalize(request.reference)
        assert is_valid(reference), "the platform issues only valid RF references"
        return ProviderResult(
            status="pending",
            reference=reference,
            amount_minor=request.amount_minor,
            action={
                "type": "bank_transfer",
                "reference": reference,
                "amount_minor": request.amount_minor,
                "currency": request.currency,
                **account_details(),
            },
        )

    def capture(
        self, *, reference: str, amount_minor: int | None, idempotency_key: str
    ) -> ProviderResult:
        raise OperationNotSupported("A bank transfer is captured when the money arrives.")

    def void(self, *, reference: str, idempotency_key: str) -> ProviderResult:
        # Closing the reference is the platform's own decision; a transfer that still arrives is
        # recorded as late and refunded by staff.
        return ProviderResult(status="voided", reference=normalize(reference))

    def refund(self, *, reference: str, amount_minor: int, idempotency_key: str) -> ProviderResult:
        """A payout to the buyer (sandbox: recorded once per idempotency key, paid at once). The
        platform bounds the amount by what arrived; the bank only refuses nonsense."""
        reference = normalize(reference or "")
        if not is_valid(reference):
            raise ProviderError("No such transfer reference.", code="no_such_reference")
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
            raise ProviderError("Refund amount out of range.", code="amount_out_of_range")
        # get_or_create already answers a concurrent twin that claimed the key first with its row.
        operation, _created = SandboxOperation.objects.get_or_create(
            processor=SANDBOX_PROCESSOR,
            idempotency_key=idempotency_key,
            defaults={"reference": reference, "kind": "refund", "amount_minor": amount_minor},
        )
        if operation.reference != reference or operation.amount_minor != amount_minor:
            raise ProviderError("Idempotency key reused for another payout.", code="key_reused")
        refunded = sum(
            SandboxOperation.objects.filter(
                processor=SANDBOX_PROCESSOR,
                reference=reference,
                kind="refund",
                created_at__lte=operation.created_at,
            ).values_list("amount_minor", flat=True)
        )
        return ProviderResult(
            status="refunded",
            reference=reference,
            amount_minor=amount_minor,
            refunded_minor=refunded,
            raw={"refund_reference": f"payout-{operation.pk}"},
        )

    def handle_notification(self, params: dict) -> NotificationEvent:
        if not isinstance(params, dict) or not params.get("signature"):
            raise InvalidNotification("The notification is not signed.", code="unsigned")
        body = {k: v for k, v in params.items() if k != "signature"}
        try:
            expected = _sign(body)
        except TypeError as exc:
            raise InvalidNotification("Malformed notification.", code="malformed") from exc
        if not crypto.constant_time_equal(str(params["signature"]), expected):
            raise InvalidNotification("The signature does not match.", code="bad_signature")
        try:
            reference = normalize(str(body["reference"]))
            currency = str(body["currency"])
            amount_minor = decimal_to_minor(str(body["amount"]), currency)
            notify_id = str(body["notify_id"])
        except (KeyError, ValueError, LookupError) as exc:
            raise InvalidNotification("Malformed notification.", code="malformed") from exc
        if body.get("iban") != conf.get("PLATFORM_BANK_IBAN"):
            raise InvalidNotification("The credit is for another account.", code="wrong_account")
        return NotificationEvent(
            provider=self.name,
            notify_id=notify_id,
            reference=reference,
            payment_id="",
            status="captured",
            amount_minor=amount_minor,
            currency=currency,
            raw=body,
        )
