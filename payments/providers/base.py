"""The one interface every payment provider implements, and the values it speaks in.

A provider is the platform's client for something on the far side of a network (a card processor,
a wallet, the platform's bank). Its methods make that call and report what the far side says; they
never touch the platform's Payment rows, hold no database locks, and run outside any transaction
of the caller. The payment services apply the result to the Payment under a row lock afterwards.

Every mutating call carries an idempotency key; the far side answers a repeated key with the
first answer, so a retry after a crash or a timeout cannot authorise, capture or refund twice.

Differences between providers are declared, not discovered (as Django's DatabaseFeatures do):
`ProviderFeatures` says, for instance, that a bank transfer is captured when the money arrives.
One contract test suite (tests/payments/test_provider_contract.py) runs against every provider.

Card data: the platform keeps cards in its vault (payments/vault/services.py) and names one by
its token.
The authorisation made in the request that received the card also carries the card itself
(`AuthorizeRequest.card`, with the CVC): a processor uses it instead of reading the vault, as a
real provider (Stripe, say) is sent the card details on the first charge. An authorisation made
anywhere else (a recovery or retry task, a payment by a saved card) has only the token, and a card
processor detokenizes it (`vault_detokenize`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from core.errors import ApplicationError

if TYPE_CHECKING:
    from payments.vault.services import DetokenizedCard

ProviderStatus = Literal[
    "requires_action",  # the buyer must do something (3-D Secure, approve in the wallet)
    "pending",  # waiting for money to arrive (bank transfer)
    "authorized",  # funds held, not yet taken
    "captured",  # funds taken (perhaps partly; captured_minor says how much)
    "voided",  # the hold released or the request closed; nothing taken
    "refunded",  # taken, then given back (fully or partly: refunded_minor)
    "failed",  # declined or errored; nothing held or taken
]


class ProviderError(ApplicationError):
    """The provider refused the operation."""

    code = "provider_error"
    http_status = 409


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or answered with a temporary error; retry later."""

    code = "provider_unavailable"
    http_status = 503


class OperationNotSupported(ProviderError):
    """This provider does not support the operation (see its features)."""

    code = "operation_not_supported"


class InvalidNotification(ApplicationError):
    """A notification whose signature or content does not check out; nothing in it is trusted."""

    code = "invalid_notification"
    http_status = 400


@dataclass(frozen=True)
class ProviderFeatures:
    # Money is taken at authorisation (bank transfer: it has already arrived).
    captures_on_authorize: bool = False
    supports_partial_capture: bool = True
    # Authorisation may need the buyer (3-D Secure, wallet approval) before it completes.
    may_require_action: bool = False
    # Void is possible before the money arrives / before capture.
    supports_void: bool = True
    supports_refund: bool = True
    # Several partial captures of one authorisation (Stripe "multicapture"), and releasing part of
    # what is still uncaptured: one capture or release per sub-order, as each seller decides.
    supports_multicapture: bool = False
    # A "sale": AuthorizeRequest(capture=True) authorises and captures in one call when the
    # authorisation succeeds at once (Stripe's capture_method=automatic); the answer is then
    # "captured". One that needs the buyer first (3-D Secure) still answers requires_action and
    # is captured later on its own.
    captures_with_authorize: bool = False


@dataclass(frozen=True)
class AuthorizeRequest:
    payment_id: str
    amount_minor: int
    currency: str
    idempotency_key: str
    description: str = ""
    # Card: the vault token and the CVC (in memory only; repr masks it).
    card_token: str = ""
    cvc: str = field(default="", repr=False)
    # Card, only in the request that received it: the card behind card_token, in memory. It saves
    # the processor the read-back of the vault row just written (a SELECT and two AES-GCM opens
    # per payment); a real provider would send these details on the first charge. None for an
    # authorisation made elsewhere (a recovery or retry task, a saved card): the processor then
    # detokenizes card_token. Left out of repr; never serialised or logged.
    card: DetokenizedCard | None = field(default=None, repr=False)
    # Wallet: where the wallet posts its notifications.
    notify_url: str = ""
    # Bank transfer: the reference the buyer will quote.
    reference: str = ""
    # Capture at once if authorised at once (only for a provider with captures_with_authorize).
    capture: bool = False

    def __reduce_ex__(self, protocol):
        raise TypeError("AuthorizeRequest may hold card data and must never be serialised")


@dataclass(frozen=True)
class ProviderResult:
    status: ProviderStatus
    reference: str
    amount_minor: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    failure_code: str = ""
    # A failure worth retrying with the same idempotency key (network, processor hiccup).
    retryable: bool = False
    # For requires_action / pending: what the buyer must do, e.g. {"type": "redirect", ...}.
    action: dict | None = None
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NotificationEvent:
    """A verified notification, reduced to what the platform acts on."""

    provider: str
    notify_id: str
    reference: str  # the provider's reference for the payment
    payment_id: str  # our id as the provider echoes it (out_trade_no); checked against reference
    status: ProviderStatus
    amount_minor: int
    currency: str
    raw: dict = field(default_factory=dict)


class PaymentProvider(abc.ABC):
    name: str
    method: str
    features: ProviderFeatures = ProviderFeatures()

    @abc.abstractmethod
    def authorize(self, request: AuthorizeRequest) -> ProviderResult: ...

    @abc.abstractmethod
    def capture(
        self, *, reference: str, amount_minor: int | None, idempotency_key: str
    ) -> ProviderResult:
        """Take `amount_minor` of the authorised amount (None = all). The rest is released."""

    @abc.abstractmethod
    def void(self, *, reference: str, idempotency_key: str) -> ProviderResult: ...

    @abc.abstractmethod
    def refund(self, *, reference: str, amount_minor: int, idempotency_key: str) -> ProviderResult:
        """Give back part or all of what was captured."""

    def capture_part(
        self, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> ProviderResult:
        """Capture `amount_minor` and leave the rest authorised (multicapture). Once nothing is
        left uncaptured the charge is "captured"; until then it stays "authorized"."""
        raise OperationNotSupported(f"{self.name} cannot capture part of an authorisation.")

    def release_part(
        self, *, reference: str, amount_minor: int, idempotency_key: str
    ) -> ProviderResult:
        """Release `amount_minor` of what is still authorised and uncaptured (one seller said no).
        When nothing is left the charge is "captured" (something was) or "voided" (nothing was)."""
        raise OperationNotSupported(f"{self.name} cannot release part of an authorisation.")

    def lookup(self, *, idempotency_key: str) -> ProviderResult | None:
        """What the far side did with an authorisation sent under this key, or None if it never
        saw it. Used to recover a payment whose process died between the call and the answer."""
        return None

    @abc.abstractmethod
    def handle_notification(self, params: dict) -> NotificationEvent:
        """Verify an incoming notification and say what it reports. Raises InvalidNotification
        for anything unsigned, tampered or signed by another key; never trusts before checking."""
