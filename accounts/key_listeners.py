"""Other apps' work on a seller's key changes, called explicitly by accounts' key services.

accounts imports no other app (an import contract), so an app whose data depends on a seller's
keys registers a listener here from its AppConfig.ready(), and the key services call it at the
point the change happens: never a model signal, which would also fire for rows saved elsewhere
(admin, fixtures, data migrations) and hide the call from whoever reads the service.

    an encryption key is registered    accounts.services._register_key (upload, generate, the
                                       dashboard keys): listener(seller_id) after the key's
                                       transaction commits
    the dashboard keys are replaced    accounts.dashboard_keys.dashboard_keys_reset:
                                       listener(seller=, revoked=, created=) inside the reset's
                                       transaction (all or nothing)

payments registers both (payments/apps.py): order documents that waited for a key are sealed,
and open orders sealed to a revoked key are sealed again to the new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

EncryptionKeyListener = Callable[[Any], None]
KeysReplacedListener = Callable[..., None]

_on_encryption_key: list[EncryptionKeyListener] = []
_on_keys_replaced: list[KeysReplacedListener] = []


def listen_encryption_key_registered(listener: EncryptionKeyListener) -> None:
    if listener not in _on_encryption_key:
        _on_encryption_key.append(listener)


def listen_dashboard_keys_replaced(listener: KeysReplacedListener) -> None:
    if listener not in _on_keys_replaced:
        _on_keys_replaced.append(listener)


def encryption_key_registered(seller_id: Any) -> None:
    """A seller's new encryption key: every listener runs after the current transaction commits
    (at once outside one)."""
    for listener in list(_on_encryption_key):
        transaction.on_commit(lambda listener=listener: listener(seller_id))


def dashboard_keys_replaced(*, seller: Any, revoked: list, created: Any) -> None:
    """A password reset revoked the seller's dashboard keys and made new ones: every listener
    runs now, in the reset's transaction."""
    for listener in list(_on_keys_replaced):
        listener(seller=seller, revoked=revoked, created=created)
