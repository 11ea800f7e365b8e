"""The configured bank gateway (settings.CLEARHOUSE_BANK_GATEWAY), built from settings once per
distinct configuration: tests that override a setting get a gateway of their own."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from settlement.gateways.base import BankGateway
from settlement.gateways.sandbox import SandboxBankGateway


def _sandbox() -> BankGateway:
    return _cached_sandbox(
        settings.SANDBOX_BANK_URL,
        settings.CLEARHOUSE_BANK_SIGNING_KEY,
        settings.CLEARHOUSE_BANK_WEBHOOK_SECRET,
        float(settings.SANDBOX_BANK_TIMEOUT_S),
    )


@lru_cache(maxsize=8)
def _cached_sandbox(
    base_url: str, signing_key: str, webhook_secret: str, timeout_s: float
) -> SandboxBankGateway:
    return SandboxBankGateway(
        base_url=base_url,
        signing_key=signing_key,
        webhook_secret=webhook_secret,
        timeout_s=timeout_s,
    )


_FACTORIES: dict[str, Callable[[], BankGateway]] = {"sandbox": _sandbox}


def register(name: str, factory: Callable[[], BankGateway]) -> None:
    """Make another gateway selectable by name (a real bank's, a test double)."""
    _FACTORIES[name] = factory


def get_bank_gateway(name: str | None = None) -> BankGateway:
    """The gateway named `name`, or the configured one."""
    name = name or settings.CLEARHOUSE_BANK_GATEWAY
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"CLEARHOUSE_BANK_GATEWAY {name!r} is not one of {', '.join(sorted(_FACTORIES))}"
        ) from None
    return factory()
