"""The platform's client for the wallets (Alipay-style "alipay", WeChat-Pay-style "wechat").

Authorisation creates a trade in the wallet and hands the buyer to the wallet (a QR code on a
desktop, the app on a phone); the result comes later as a signed asynchronous notification.
`handle_notification` checks, before trusting anything: every required field present once, the
RSA2 signature against the wallet's public key, our app id, a known trade status, and an amount
that parses exactly in the currency's minor units.
"""

from __future__ import annotations

import base64
import binascii

from core import crypto
from payments.amounts import decimal_to_minor
from payments.providers import sandbox_wallet
from payments.providers.base import (
    AuthorizeRequest,
    InvalidNotification,
    NotificationEvent,
    PaymentProvider,
    ProviderFeatures,
    ProviderResult,
)
from payments.providers.wallet_keys import wallet_public_key

_STATUS = {
    sandbox_wallet.WAIT_BUYER_PAY: "requires_action",
    sandbox_wallet.TRADE_SUCCESS: "authorized",
    sandbox_wallet.TRADE_FINISHED: "captured",
    sandbox_wallet.TRADE_CLOSED: "voided",
}
REQUIRED_FIELDS = (
    "notify_id",
    "app_id",
    "trade_no",
    "out_trade_no",
    "trade_status",
    "total_amount",
    "currency",
    "sign",
    "sign_type",
)
_MAX_FIELDS = 50
_MAX_VALUE_LENGTH = 2048


def _result(response: dict) -> ProviderResult:
    status = _STATUS[response["status"]]
    if status == "captured" and response.get("refunded_minor"):
        status = "refunded"
    return ProviderResult(
        status=status,
        reference=response["trade_no"],
        amount_minor=response["amount_minor"],
        captured_minor=response.get("captured_minor", 0),
        refunded_minor=response.get("refunded_minor", 0),
        action={"type": "wallet"} if status == "requires_action" else None,
        raw=response,
    )


class WalletProvider(PaymentProvider):
    method = "wallet"
    features = ProviderFeatures(may_require_action=True, supports_multicapture=True)

    def __init__(self, wallet: str, remote: sandbox_wallet.SandboxWallet | None = None) -> None:
        self.name = wallet
        self.remote = remote or sandbox_wallet.wallets[wallet]
        self.app_id = sandbox_wallet.APP_IDS[wallet]

    def authorize(self, request: AuthorizeRequest) -> ProviderResult:
        return _result(
            self.remote.precreate(
                out_trade_no=request.payment_id,
                amount_minor=request.amount_minor,
                currency=request.currency,
                subject=request.description,
                notify_url=request.notify_url,
            )
        )

    def capture(
        self, *, reference: str, amount_minor: int | None, idempotency_key: str
    ) -> ProviderResult:
        return _result(
            self.remote.capture(
                trade_no=reference, amount_minor=amount_minor, idempotency_key=idempotency_key
            )
        )

    def capture_part(
        self, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> ProviderResult:
        return _result(
            self.remote.capture_part(
                trade_no=reference, amount_minor=amount_minor, idempotency_key=idempotency_key
            )
        )

    def release_part(
        self, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> ProviderResult:
        return _result(
            self.remote.release_part(
                trade_no=reference, amount_minor=amount_minor, idempotency_key=idempotency_key
            )
        )

    def void(self, *, reference: str, idempotency_key: str) -> ProviderResult:
        return _result(self.remote.close(trade_no=reference, idempotency_key=idempotency_key))

    def refund(self, *, reference: str, amount_minor: int, idempotency_key: str) -> ProviderResult:
        return _result(
            self.remote.refund(
                trade_no=reference, amount_minor=amount_minor, idempotency_key=idempotency_key
            )
        )

    def handle_notification(self, params: dict) -> NotificationEvent:
        if not isinstance(params, dict) or len(params) > _MAX_FIELDS:
            raise InvalidNotification("Malformed notification.", code="malformed")
        for key, value in params.items():
            if (
                not isinstance(key, str)
                or not isinstance(value, str)
                or len(value) > _MAX_VALUE_LENGTH
            ):
                raise InvalidNotification("Malformed notification.", code="malformed")
        if not params.get("sign"):
            raise InvalidNotification("The notification is not signed.", code="unsigned")
        missing = [name for name in REQUIRED_FIELDS if not params.get(name)]
        if missing:
            raise InvalidNotification(
                f"Missing fields: {', '.join(missing)}.", code="missing_fields"
            )
        if params["sign_type"] != "RSA2":
            raise InvalidNotification("Only RSA2 signatures are accepted.", code="bad_sign_type")
        try:
            signature = base64.b64decode(params["sign"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidNotification("The signature is not base64.", code="bad_signature") from exc
        try:
            crypto.rsa_pkcs1v15_verify(
                wallet_public_key(self.name), sandbox_wallet.signing_string(params), signature
            )
        except crypto.CryptoError as exc:
            raise InvalidNotification(
                "The signature does not verify with the wallet's key.", code="bad_signature"
            ) from exc
        # Signed by the wallet: now the content is the wallet's word, and is checked as such.
        if params["app_id"] != self.app_id:
            raise InvalidNotification("The notification is for another merchant.", code="wrong_app")
        status = _STATUS.get(params["trade_status"])
        if status is None:
            raise InvalidNotification("Unknown trade status.", code="unknown_status")
        try:
            amount_minor = decimal_to_minor(params["total_amount"], params["currency"])
        except (ValueError, KeyError, LookupError) as exc:
            raise InvalidNotification("The amount is not valid.", code="bad_amount") from exc
        return NotificationEvent(
            provider=self.name,
            notify_id=params["notify_id"],
            reference=params["trade_no"],
            payment_id=params["out_trade_no"],
            status=status,
            amount_minor=amount_minor,
            currency=params["currency"],
            raw=dict(params),
        )
