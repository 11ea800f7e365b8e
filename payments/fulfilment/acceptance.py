"""A seller accepts a paid sub-order by signing its order document. (Dashboard acceptance:
payments/fulfilment/dashboard_acceptance.py; reject and lapse: rejection.py; ship: shipping.py.)

    sub_order_accept(sub_order_id, seller, key_id, signature_b64, actor)
        The signature is checked BEFORE anything changes: core.crypto.verify over the exact bytes
        of the sub-order's canonical document, with the seller's own registered, unrevoked signing
        key, using that key's algorithm (ed25519 or rsa-pss-sha256). Then, under
        Payment -> Order -> SubOrder locks: accepted (order.accepted), signature and key stored.
        After commit: this sub-order's money is captured (payments.flows.sub_order_money).
    sub_order_accept_with_password(...)   dashboard: unlock the dashboard signing key, sign, same path
    sub_order_reject(...)                 order.rejected; money released, stock returned
    acceptance_expire_due()               beat: order.acceptance_expired for sub-orders past accept_by
    sub_order_mark_shipped(...)           accepted -> shipped; confirm_by = now + auto-confirm window

Every refusal is a core.errors error with a stable code and the field at fault, and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import KeyPurpose, SellerKey
from core import crypto
from core.errors import ApplicationError, Conflict, NotFound, ValidationError
from payments.flows.sub_order_money import paid_payment_of, sub_order_capture, sub_order_release
from payments.fulfilment.documents import order_document_ensure
from payments.fulfilment.models import SealedOrderDocument
from payments.fulfilment.refunds import refund_declined_captured_due
from payments.orders.events import ORDER_ACCEPTED
from payments.orders.models import Order, SubOrder, SubOrderStatus
from payments.orders.sub_order_state import lock_sub_order, sub_order_transition
from payments.providers.base import ProviderError

logger = logging.getLogger(__name__)
SO = SubOrderStatus
LAPSED_REASON = "The seller did not accept within the acceptance window."
MAX_REASON_CHARS = 255
MAX_TRACKING_CHARS = 200
MAX_SIGNATURE_CHARS = 4096  # RSA-8192 PSS is 1,366 base64 characters


class SignatureInvalid(ValidationError):
    """The signature does not verify over this order's document with this key."""

    code = "signature_invalid"


class AlreadyAccepted(Conflict):
    """This order was already accepted."""

    code = "already_accepted"


class OrderRejected(Conflict):
    """This order was rejected."""

    code = "order_rejected"


class AcceptanceExpired(Conflict):
    """The acceptance window has closed."""

    code = "acceptance_expired"


class NotAwaitingAcceptance(Conflict):
    """This order is not waiting for the seller's decision."""

    code = "not_awaiting_acceptance"


class TooManyAttempts(ApplicationError):
    """Too many wrong passwords: wait a while."""

    code = "too_many_attempts"
    http_status = 429


def sub_order_get_for_seller(*, seller: Any, sub_order_id: Any) -> SubOrder:
    """The seller's own sub-order, else NotFound (another seller's order looks like no order)."""
    try:
        sub_order_id = int(sub_order_id)
    except (TypeError, ValueError):
        raise NotFound("No such order.", code="order_not_found") from None
    sub_order = (
        SubOrder.objects.select_related("order")
        .filter(pk=sub_order_id, seller_id=seller.pk)
        .first()
    )
    if sub_order is None:
        raise NotFound("No such order.", code="order_not_found")
    return sub_order


def document_of(sub_order: SubOrder) -> SealedOrderDocument:
    # Made now if the sealing task has not run yet (a paid sub-order always has its document).
    document = order_document_ensure(sub_order)
    if document is None:
        raise NotAwaitingAcceptance(
            "This order has no order document yet (it is not paid).", code="document_missing"
        )
    return document


def check_open(sub_order: SubOrder) -> None:
    """Raise the specific reason a sub-order cannot be accepted or rejected now."""
    if sub_order.status == SO.AWAITING_ACCEPTANCE:
        if sub_order.accept_by is not None and sub_order.accept_by <= timezone.now():
            raise AcceptanceExpired(
                "The acceptance window for this order closed; it is being released to the buyer."
            )
        return
    if sub_order.accepted_at is not None:
        raise AlreadyAccepted("You already accepted this order.")
    if sub_order.status == SO.REJECTED:
        if sub_order.rejection_reason == LAPSED_REASON:
            raise AcceptanceExpired("The acceptance window for this order closed.")
        raise OrderRejected("This order was rejected; it cannot be accepted or rejected again.")
    raise NotAwaitingAcceptance(
        f"This order is {sub_order.get_status_display().lower()}: there is nothing to decide."
    )


def _parse_signature(signature_b64: Any) -> bytes:
    if not isinstance(signature_b64, str) or not signature_b64.strip():
        raise ValidationError(
            "Give the signature as base64 text.", code="signature_malformed", field="signature"
        )
    text = signature_b64.strip()
    if len(text) > MAX_SIGNATURE_CHARS:
        raise ValidationError(
            "The signature is too long.", code="signature_malformed", field="signature"
        )
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            "The signature is not valid base64 (standard alphabet, with padding).",
            code="signature_malformed",
            field="signature",
        ) from None
    if not signature:
        raise ValidationError(
            "The signature is empty.", code="signature_malformed", field="signature"
        )
    return signature


def _signing_key(*, seller: Any, key_id: Any, algorithm: str | None) -> SellerKey:
    try:
        key_uuid = uuid.UUID(str(key_id))
    except (TypeError, ValueError, AttributeError):
        raise ValidationError(
            "Give the id of one of your signing keys.", code="unknown_key", field="key_id"
        ) from None
    # Another seller's key is reported exactly like a key that does not exist.
    key = SellerKey.objects.filter(pk=key_uuid, seller_id=seller.pk).first()
    if key is None:
        raise ValidationError(
            "No signing key of yours has this id.", code="unknown_key", field="key_id"
        )
    if key.purpose != KeyPurpose.SIGNING:
        raise ValidationError(
            "This is an encryption key; sign with one of your signing keys.",
            code="not_a_signing_key",
            field="key_id",
        )
    if key.revoked_at is not None:
        raise ValidationError(
            "This key is revoked; sign with an active signing key.",
            code="key_revoked",
            field="key_id",
        )
    if algorithm not in (None, "") and algorithm != key.algorithm:
        raise ValidationError(
            f"Key {key.id} is an {key.algorithm} key, not {algorithm}.",
            code="algorithm_mismatch",
            field="algorithm",
        )
    return key


def _verify(key: SellerKey, document: SealedOrderDocument, signature: bytes) -> None:
    try:
        crypto.verify(key.public_pem, document.document_bytes, signature, algorithm=key.algorithm)
    except crypto.InvalidKey:
        raise ValidationError(
            f"Key {key.id} cannot make {key.algorithm} signatures.",
            code="algorithm_mismatch",
            field="key_id",
        ) from None
    except crypto.CryptoError:
        raise SignatureInvalid(
            "The signature does not verify: sign the exact bytes of this order's document "
            f"(SHA-256 {document.sha256}) with the private half of key {key.id}.",
            field="signature",
        ) from None


def lock_chain(sub_order: SubOrder) -> SubOrder:
    """Lock Payment -> Order -> SubOrder (the project's one lock order) and return the sub-order."""
    paid_payment_of(sub_order.order_id, lock=True)
    Order.objects.select_for_update().filter(pk=sub_order.order_id).first()
    return lock_sub_order(sub_order.pk)


def sub_order_accept(
    *,
    sub_order_id: Any,
    seller: Any,
    key_id: Any,
    signature_b64: Any,
    actor: str,
    algorithm: str | None = None,
) -> SubOrder:
    """Accept with a signature over the order document (see the module docstring)."""
    sub_order = sub_order_get_for_seller(seller=seller, sub_order_id=sub_order_id)
    check_open(sub_order)
    document = document_of(sub_order)
    key = _signing_key(seller=seller, key_id=key_id, algorithm=algorithm)
    signature = _parse_signature(signature_b64)
    _verify(key, document, signature)

    with transaction.atomic():
        locked = lock_chain(sub_order)
        check_open(locked)  # again, under the lock: a concurrent accept or reject won
        # The key too, after the sub-order (revocation takes the same row lock): a key revoked
        # since the signature was checked does not accept.
        still_active = (
            SellerKey.objects.select_for_update(no_key=True)
            .filter(pk=key.pk, revoked_at__isnull=True)
            .first()
        )
        if still_active is None:
            raise ValidationError(
                "This key was revoked; sign with an active signing key.",
                code="key_revoked",
                field="key_id",
            )
        sub_order = sub_order_transition(
            sub_order_id=locked.pk,
            to_status=SO.ACCEPTED,
            actor=actor,
            event=ORDER_ACCEPTED,
            fields={
                "accepted_at": timezone.now(),
                "acceptance_signature": base64.b64encode(signature).decode("ascii"),
                "acceptance_key": key,
            },
            data={
                "document_sha256": document.sha256,
                "key_id": str(key.id),
                "algorithm": key.algorithm,
                "signature": base64.b64encode(signature).decode("ascii"),
            },
        )
    settle(sub_order.pk, capture=True, actor=actor)
    sub_order.refresh_from_db()
    return sub_order


def settle(sub_order_id: Any, *, capture: bool, actor: str) -> None:
    """Move the money after the decision committed; a provider failure is retried by the sweeper
    (the decision stands: the buyer's money stays held until then)."""
    try:
        if capture:
            sub_order_capture(sub_order_id=sub_order_id, actor=actor)
        else:
            sub_order_release(sub_order_id=sub_order_id, actor=actor)
    except ProviderError as exc:
        logger.warning("sub-order %s: provider step deferred to the sweeper: %s", sub_order_id, exc)
    # A capture that won a race with a decline (rejection, lapse, dispute resolved for the
    # buyer) took money that is not the seller's: it goes back at once.
    refund_declined_captured_due(sub_order_ids=[sub_order_id])
