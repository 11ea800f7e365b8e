"""Acceptance from the seller's dashboard: the password re-entered unlocks the seller's dashboard
keys (accounts.dashboard_keys), to sign the order document (then exactly the API's path,
acceptance.sub_order_accept) or to open its sealed copy. Wrong passwords are throttled.
"""

from __future__ import annotations

import base64
from typing import Any

from django.core.cache import cache

from accounts.dashboard_keys import WrongPassword, dashboard_keys_of, dashboard_private_pem
from accounts.models import KeyOrigin, SellerKey
from core import crypto
from core.errors import Conflict, ValidationError
from payments import conf
from payments.fulfilment.acceptance import (
    TooManyAttempts,
    check_open,
    document_of,
    sub_order_accept,
    sub_order_get_for_seller,
)
from payments.fulfilment.documents import document_associated_data
from payments.orders.models import SubOrder


def _failures_key(seller: Any) -> str:
    return f"clearhouse:dashboard-password-failures:{seller.pk}"


def _check_throttle(seller: Any) -> None:
    limit = int(conf.get("CLEARHOUSE_DASHBOARD_PASSWORD_FAILURES"))
    if (cache.get(_failures_key(seller)) or 0) >= limit:
        minutes = int(conf.get("CLEARHOUSE_DASHBOARD_PASSWORD_LOCKOUT_S")) // 60
        raise TooManyAttempts(
            f"Too many wrong passwords. Try again in {minutes} minutes.", field="password"
        )


def _unlock(seller: Any, key: SellerKey, password: str) -> str:
    _check_throttle(seller)
    try:
        private_pem = dashboard_private_pem(key=key, password=password)
    except WrongPassword:
        lockout = int(conf.get("CLEARHOUSE_DASHBOARD_PASSWORD_LOCKOUT_S"))
        cache.add(_failures_key(seller), 0, timeout=lockout)
        try:
            cache.incr(_failures_key(seller))
        except ValueError:
            cache.set(_failures_key(seller), 1, timeout=lockout)
        raise
    cache.delete(_failures_key(seller))
    return private_pem


# The same throttled unlock for other dashboard signatures (a payout's acknowledgement).
unlock_dashboard_key = _unlock


def sub_order_accept_with_password(
    *, sub_order_id: Any, seller: Any, password: str, actor: str
) -> SubOrder:
    """Dashboard acceptance: the password unlocks the seller's dashboard signing key, which signs
    the canonical document; then exactly the API's verify-and-accept path."""
    sub_order = sub_order_get_for_seller(seller=seller, sub_order_id=sub_order_id)
    check_open(sub_order)
    document = document_of(sub_order)
    if not password:
        raise ValidationError("Enter your password to sign.", field="password")
    key = dashboard_keys_of(seller).signing
    if key is None:
        raise Conflict(
            "You have no dashboard signing key yet: log out and in again to create it, or "
            "accept through the API with your own key.",
            code="no_dashboard_key",
        )
    private_pem = _unlock(seller, key, password)
    signature = crypto.sign(private_pem, document.document_bytes, algorithm=key.algorithm)
    return sub_order_accept(
        sub_order_id=sub_order.pk,
        seller=seller,
        key_id=key.id,
        signature_b64=base64.b64encode(signature).decode("ascii"),
        actor=actor,
    )


def sealed_document_open_with_password(*, sub_order_id: Any, seller: Any, password: str) -> str:
    """Open the sealed copy with the dashboard encryption key (proves the sealed copy holds the
    document). Only for documents sealed to a dashboard key; one's own key opens the others."""
    sub_order = sub_order_get_for_seller(seller=seller, sub_order_id=sub_order_id)
    document = document_of(sub_order)
    if document.sealed is None or document.seller_key is None:
        raise Conflict("This document is not sealed yet.", code="not_sealed")
    key = document.seller_key
    if key.origin != KeyOrigin.PLATFORM_HELD:
        raise Conflict(
            f"This document is sealed to your own key {key.id}: open it with its private half "
            "(the platform does not have it).",
            code="sealed_to_own_key",
        )
    if not password:
        raise ValidationError("Enter your password to open the document.", field="password")
    private_pem = _unlock(seller, key, password)
    plaintext = crypto.open_sealed(
        private_pem, bytes(document.sealed), associated_data=document_associated_data(sub_order.pk)
    )
    return plaintext.decode("utf-8")
