"""Which provider serves which payment method. Providers are looked up by their stable name, the
one stored on Payment.provider and used in ledger account codes (external:<name>)."""

from __future__ import annotations

from core.errors import ValidationError
from payments.providers.bank_transfer import BankTransferProvider
from payments.providers.base import PaymentProvider
from payments.providers.sandbox_card import SandboxCardProvider
from payments.providers.wallet import WalletProvider

_providers: dict[str, PaymentProvider] = {}


def register(provider: PaymentProvider) -> None:
    _providers[provider.name] = provider


for _provider in (
    SandboxCardProvider(),
    WalletProvider("alipay"),
    WalletProvider("wechat"),
    BankTransferProvider(),
):
    register(_provider)

CARD_PROVIDER = "sandbox_card"
WALLET_PROVIDERS = ("alipay", "wechat")
BANK_PROVIDER = "bank_transfer"


def get_provider(name: str) -> PaymentProvider:
    try:
        return _providers[name]
    except KeyError:
        raise ValidationError(f"Unknown payment provider {name!r}.", field="provider") from None


def all_providers() -> list[PaymentProvider]:
    return list(_providers.values())


def provider_for(method: str, wallet: str | None = None) -> PaymentProvider:
    if method == "card":
        return get_provider(CARD_PROVIDER)
    if method == "wallet":
        if wallet not in WALLET_PROVIDERS:
            raise ValidationError("Choose Alipay or WeChat Pay.", field="wallet")
        return get_provider(wallet)
    if method == "bank_transfer":
        return get_provider(BANK_PROVIDER)
    raise ValidationError("Choose card, wallet or bank transfer.", field="method")
