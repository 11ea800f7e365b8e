"""Development keys: made once per checkout and kept in var/dev-keys.json (git-ignored).

Only local and test settings use this; production takes every key from the environment.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path


def load_or_create(path: Path) -> dict[str, str]:
    if path.is_file():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {
        "secret_key": secrets.token_urlsafe(50),
        "master_keys": "dev1:" + base64.b64encode(os.urandom(32)).decode(),
        "signing_key": base64.b64encode(os.urandom(32)).decode(),
    }
    # Written exclusively so two processes starting at once agree on one set of keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return json.loads(path.read_text())
    with os.fdopen(fd, "w") as handle:
        json.dump(keys, handle)
    return keys


def derived(keys: dict[str, str], purpose: str) -> bytes:
    """32 bytes for `purpose`, derived from this checkout's secret key: every process (web, worker,
    the sandbox bank) computes the same value without a second write to the keys file."""
    return hmac.new(keys["secret_key"].encode(), purpose.encode(), hashlib.sha256).digest()
