"""Payment-side settings with their defaults, read at call time (tests override them).

Every name here may be set in config/settings; the defaults are the ones documented in docs/payments.md.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

DEFAULTS: dict[str, object] = {
    # The platform's own bank account, shown to buyers who pay by bank transfer.
    "PLATFORM_BANK_IBAN": "DE89370400440532013000",
    "PLATFORM_BANK_BIC": "COBADEFFXXX",
    "PLATFORM_BANK_NAME": "Clearhouse Escrow GmbH",
    # An unpaid bank transfer expires after this many days.
    "BANK_TRANSFER_EXPIRY_DAYS": 7,
    # A 3-D Secure challenge left unanswered this long counts as abandoned.
    "PAYMENTS_3DS_TIMEOUT_S": 15 * 60,
    # A wallet payment not approved within this time expires.
    "PAYMENTS_WALLET_TIMEOUT_S": 30 * 60,
    # Calls to a provider that fail with a retryable error: attempts in all, and the first backoff.
    "PAYMENTS_PROVIDER_MAX_ATTEMPTS": 3,
    "PAYMENTS_PROVIDER_RETRY_BACKOFF_S": 0.2,
    # Where the sandbox wallet sends its notifications (the platform's own public address).
    "PAYMENTS_PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    # {"alipay": {"private_pem": ..., "public_pem": ...}, "wechat": {...}}; unset = made once in var/.
    "SANDBOX_WALLET_KEYS": None,
    # The sandbox wallet's notification retries (Alipay retries for about a day; ours is bounded).
    "SANDBOX_WALLET_NOTIFY_MAX_RETRIES": 8,
    # A card payment still `created` this long after it started lost its request (killed process or
    # connection): the recovery sweeper (beat, every 20 s) asks the processor what it did. Far above
    # any live request (gunicorn kills one after 30 s), so a running request is never raced.
    "PAYMENTS_RECOVER_AFTER_S": 60,
    # Rows per batch for the key rotation and the expiry sweeper.
    "PAYMENTS_BATCH_SIZE": 200,
    # A paid sub-order must be accepted (signed) by its seller within this many hours, else it is
    # released back to the buyer (beat task payments.expire_acceptance).
    "CLEARHOUSE_ACCEPTANCE_WINDOW_HOURS": 48,
    # A shipped sub-order is confirmed automatically this many days after shipping.
    "CLEARHOUSE_AUTO_CONFIRM_DAYS": 10,
    # Wrong dashboard passwords (accept / open document) per seller before a lockout, and its length.
    "CLEARHOUSE_DASHBOARD_PASSWORD_FAILURES": 5,
    "CLEARHOUSE_DASHBOARD_PASSWORD_LOCKOUT_S": 15 * 60,
    # The buyer's order page asks for itself again every this many seconds while a seller has
    # still to accept or ship (the browser tests lower it).
    "ORDER_PAGE_SELLER_POLL_S": 15,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


def acceptance_window() -> timedelta:
    return timedelta(hours=float(get("CLEARHOUSE_ACCEPTANCE_WINDOW_HOURS")))


def auto_confirm_window() -> timedelta:
    return timedelta(days=float(get("CLEARHOUSE_AUTO_CONFIRM_DAYS")))
