"""Keys of the sandbox wallets (Alipay-style and WeChat-Pay-style).

The sandbox wallet signs its notifications with its private key; the platform verifies them with
the wallet's public key. Where they come from, in order:

1. settings.SANDBOX_WALLET_KEYS = {"alipay": {"private_pem": ..., "public_pem": ...}, ...}
   (tests use fixed test-only keys this way);
2. var/sandbox-wallet-keys.json, generated once per environment (RSA-3072, mode 0600) and kept,
   like the development keys in var/dev-keys.json. Never committed (var/ is git-ignored).

With a real wallet only the public key would be configured; the private half is the wallet's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings

from core import crypto
from payments import conf

WALLETS = ("alipay", "wechat")
_cache: dict[str, dict[str, dict[str, str]]] = {}


def _keys_file() -> Path:
    return Path(getattr(settings, "VAR_DIR", Path(settings.BASE_DIR) / "var")) / (
        "sandbox-wallet-keys.json"
    )


def _load_or_create(path: Path) -> dict[str, dict[str, str]]:
    cached = _cache.get(str(path))
    if cached is not None:
        return cached
    if not path.is_file():
        keys = {}
        for wallet in WALLETS:
            private_pem, public_pem = crypto.generate_signing_key("rsa-pss-sha256")
            keys[wallet] = {"private_pem": private_pem, "public_pem": public_pem}
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created exclusively: two processes starting at once agree on one set of keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                json.dump(keys, handle)
    keys = json.loads(path.read_text())
    _cache[str(path)] = keys
    return keys


def _all_keys() -> dict[str, dict[str, str]]:
    configured = conf.get("SANDBOX_WALLET_KEYS")
    if configured:
        return configured
    return _load_or_create(_keys_file())


def sandbox_private_key(wallet: str) -> str:
    """The sandbox wallet's signing key (the wallet's side of the wire only)."""
    return _all_keys()[wallet]["private_pem"]


def wallet_public_key(wallet: str) -> str:
    """The key the platform trusts for this wallet's notifications."""
    return _all_keys()[wallet]["public_pem"]
