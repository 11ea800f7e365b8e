"""The bank's configuration, from its own environment (it reads no platform settings).

    SANDBOX_BANK_DB                      SQLite file (default var/sandbox_bank/bank.sqlite3)
    SANDBOX_BANK_PLATFORM_PUBLIC_KEY     the platform's Ed25519 public key, PEM text ...
    SANDBOX_BANK_PLATFORM_PUBLIC_KEY_FILE  ... or a file holding it
    SANDBOX_BANK_WEBHOOK_SECRET          Standard Webhooks secret ("whsec_<base64>") for callbacks
    SANDBOX_BANK_CALLBACK_URL            where callbacks go (also settable by the admin endpoint)
    SANDBOX_BANK_ADMIN_TOKEN             bearer token of the bank's operator endpoints
    SANDBOX_BANK_PLATFORM_NAME           holder name of the platform's accounts
    SANDBOX_BANK_PLATFORM_OPENING_BALANCE_MINOR  what each platform account opens with
    SANDBOX_BANK_CALLBACK_RETRY_BASE_MS, _RETRY_MAX_MS, _MAX_ATTEMPTS, _WORKERS, _TIMEOUT_S
plus the fault knobs (faults.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .faults import Knobs, knobs_from_env

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = BASE_DIR / "var" / "sandbox_bank" / "bank.sqlite3"
# The bank's own code: a German-format IBAN bank code and a BIC nobody else uses.
BANK_CODE = "10020030"
BANK_BIC = "SBXXDEF1XXX"


@dataclass
class BankConfig:
    db_path: Path = DEFAULT_DB_PATH
    platform_public_key_pem: str = ""
    webhook_secret: str = ""
    callback_url: str = ""
    admin_token: str = field(default="", repr=False)
    platform_name: str = "Clearhouse Marketplace"
    platform_opening_balance_minor: int = 10**12
    # A signed request older or newer than this is refused (replays, skewed clocks).
    signature_tolerance_s: int = 300
    callback_retry_base_ms: int = 500
    callback_retry_max_ms: int = 60_000
    callback_max_attempts: int = 60
    callback_workers: int = 2
    callback_timeout_s: float = 5.0
    # Transfer callbacks due together go in one signed request, up to this many (1: one each).
    callback_batch: int = 50
    knobs: Knobs = field(default_factory=Knobs)


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    return int(raw) if raw else default


def config_from_env(environ: Mapping[str, str] | None = None) -> BankConfig:
    environ = os.environ if environ is None else environ
    public_key = environ.get("SANDBOX_BANK_PLATFORM_PUBLIC_KEY", "").strip()
    key_file = environ.get("SANDBOX_BANK_PLATFORM_PUBLIC_KEY_FILE", "").strip()
    if not public_key and key_file:
        public_key = Path(key_file).read_text().strip()
    timeout_raw = environ.get("SANDBOX_BANK_CALLBACK_TIMEOUT_S", "").strip()
    return BankConfig(
        db_path=Path(environ.get("SANDBOX_BANK_DB", "").strip() or DEFAULT_DB_PATH),
        platform_public_key_pem=public_key,
        webhook_secret=environ.get("SANDBOX_BANK_WEBHOOK_SECRET", "").strip(),
        callback_url=environ.get("SANDBOX_BANK_CALLBACK_URL", "").strip(),
        admin_token=environ.get("SANDBOX_BANK_ADMIN_TOKEN", "").strip(),
        platform_name=environ.get("SANDBOX_BANK_PLATFORM_NAME", "").strip()
        or BankConfig.platform_name,
        platform_opening_balance_minor=_int(
            environ, "SANDBOX_BANK_PLATFORM_OPENING_BALANCE_MINOR", 10**12
        ),
        callback_retry_base_ms=_int(environ, "SANDBOX_BANK_CALLBACK_RETRY_BASE_MS", 500),
        callback_retry_max_ms=_int(environ, "SANDBOX_BANK_CALLBACK_RETRY_MAX_MS", 60_000),
        callback_max_attempts=_int(environ, "SANDBOX_BANK_CALLBACK_MAX_ATTEMPTS", 60),
        callback_workers=max(1, _int(environ, "SANDBOX_BANK_CALLBACK_WORKERS", 2)),
        callback_timeout_s=float(timeout_raw) if timeout_raw else 5.0,
        callback_batch=min(500, max(1, _int(environ, "SANDBOX_BANK_CALLBACK_BATCH", 50))),
        knobs=knobs_from_env(environ),
    )
