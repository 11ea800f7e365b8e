"""A seller accepts (by signing the order document), rejects, lets the window lapse, or ships.

    sub_order_accept(sub_order_id, seller, key_id, signature_b64, actor)
        The signature is checked BEFORE anything changes: core.crypto.verify over the exact bytes
        of the sub-order's canonical document, with the seller's own registered, unrevoked signing
        key, using that key's algorithm (ed25519 or rsa-pss-sha256). Then, under
        Payment -> Order -> SubOrder locks: accepted (order.accepted), signature and key stored.
        After commit: this sub-order's money is captured (payments.sub_order_money).
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

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.dashboard_keys import WrongPassword, dashboard_keys_of, dashboard_private_pem
from accounts.models import KeyOrigin, KeyPurpose, SellerKey
from core import crypto
from core.errors import ApplicationError, Conflict, NotFound, TryAgainLater, ValidationError
from payments import conf
from payments.flows.sub_order_money import paid_payment_of, sub_order_capture, sub_order_release
from payments.fulfilment.documents import document_associated_data, order_document_ensure
from payments.fulfilment.models import SealedOrderDocument
from payments.fulfilment.refunds import refund_sub_order_remaining
from payments.orders.events import (
    ORDER_ACCEPTANCE_EXPIRED,
    ORDER_ACCEPTED,
    ORDER_REJECTED,
    ORDER_SHIPPED,
)
from payments.orders.models import Order, OrderStatus, SubOrder, SubOrderStatus
from payments.orders.services import sub_order_restock_locked
from payments.orders.sub_order_state import lock_sub_order, sub_order_transition
from payments.providers.base import ProviderError

logger = logging.getLogger(__name__)
SO = SubOrderStatus

LAPSED_REASON = "The seller did not accept within the acceptance window."
MAX_REASON_CHARS = 255
MAX_TRACKING_CHARS = 200
MAX_SIGNATURE_CHARS = 4096  # RSA-8192 PSS is 1,366 base64 characters


# --- errors --------------------------------------------------------------------------------------


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


# --- reads ---------------------------------------------------------------------------------------


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


def _document_of(sub_order: SubOrder) -> SealedOrderDocument:
    # Made now if the sealing task has not run yet (a paid sub-order always has its document).
    document = order_document_ensure(sub_order)
    if document is None:
        raise NotAwaitingAcceptance(
            "This order has no order document yet (it is not paid).", code="document_missing"
        )
    return document


def _check_open(sub_order: SubOrder) -> None:
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


# --- accept --------------------------------------------------------------------------------------


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


def _lock_chain(sub_order: SubOrder) -> SubOrder:
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
    _check_open(sub_order)
    document = _document_of(sub_order)
    key = _signing_key(seller=seller, key_id=key_id, algorithm=algorithm)
    signature = _parse_signature(signature_b64)
    _verify(key, document, signature)

    with transaction.atomic():
        locked = _lock_chain(sub_order)
        _check_open(locked)  # again, under the lock: a concurrent accept or reject won
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
    _settle(sub_order.pk, capture=True, actor=actor)
    sub_order.refresh_from_db()
    return sub_order


def _settle(sub_order_id: Any, *, capture: bool, actor: str) -> None:
    """Move the money after the decision committed; a provider failure is retried by the sweeper
    (the decision stands: the buyer's money stays held until then)."""
    try:
        if capture:
            sub_order_capture(sub_order_id=sub_order_id, actor=actor)
        else:
            sub_order_release(sub_order_id=sub_order_id, actor=actor)
    except ProviderError as exc:
        logger.warning("sub-order %s: provider step deferred to the sweeper: %s", sub_order_id, exc)


# --- dashboard (password re-entry) ---------------------------------------------------------------


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


def sub_order_accept_with_password(
    *, sub_order_id: Any, seller: Any, password: str, actor: str
) -> SubOrder:
    """Dashboard acceptance: the password unlocks the seller's dashboard signing key, which signs
    the canonical document; then exactly the API's verify-and-accept path."""
    sub_order = sub_order_get_for_seller(seller=seller, sub_order_id=sub_order_id)
    _check_open(sub_order)
    document = _document_of(sub_order)
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
    document = _document_of(sub_order)
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


# --- reject and lapse ----------------------------------------------------------------------------


def _close(
    sub_order: SubOrder, *, event: str, reason: str, actor: str, only_if_due: bool = False
) -> SubOrder | None:
    """Reject under the locks, restock, cancel the order if no seller is left; then move money."""
    with transaction.atomic():
        locked = _lock_chain(sub_order)
        if only_if_due and (
            locked.status != SO.AWAITING_ACCEPTANCE
            or locked.accept_by is None
            or locked.accept_by > timezone.now()
        ):
            return None  # accepted or rejected meanwhile: nothing to do
        if not only_if_due:
            _check_open(locked)
        closed = sub_order_transition(
            sub_order_id=locked.pk,
            to_status=SO.REJECTED,
            actor=actor,
            event=event,
            fields={"rejected_at": timezone.now(), "rejection_reason": reason[:MAX_REASON_CHARS]},
            data={"reason": reason[:MAX_REASON_CHARS], "amount_minor": locked.amount_minor},
        )
        sub_order_restock_locked(closed)
        order = Order.objects.get(pk=closed.order_id)
        if not order.sub_orders.exclude(status__in=[SO.REJECTED, SO.CANCELLED]).exists():
            order.status = OrderStatus.CANCELLED
            order.stock_reserved = False
            order.save(update_fields=["status", "stock_reserved", "updated_at"])
    payment = paid_payment_of(closed.order_id)
    if closed.captured_minor > 0:
        _refund_captured(closed, reason=reason, actor=actor)
    elif payment is not None:
        _settle(closed.pk, capture=False, actor=actor)
    closed.refresh_from_db()
    return closed


def _refund_captured(sub_order: SubOrder, *, reason: str, actor: str) -> None:
    """The money was already taken (bank transfer): give it back through the refund service."""
    try:
        refund_sub_order_remaining(sub_order_id=sub_order.pk, reason=reason, actor=actor)
    except (ApplicationError, ProviderError) as exc:
        logger.error("sub-order %s: refund after rejection failed: %s", sub_order.pk, exc)


def sub_order_reject(*, sub_order_id: Any, seller: Any, reason: str, actor: str) -> SubOrder:
    """The seller declines: order.rejected; the buyer's money is released or refunded and the
    sub-order's units go back to stock."""
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise ValidationError("Tell the buyer why you reject the order.", field="reason")
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError(f"At most {MAX_REASON_CHARS} characters.", field="reason")
    sub_order = sub_order_get_for_seller(seller=seller, sub_order_id=sub_order_id)
    _check_open(sub_order)
    _document_of(sub_order)
    return _close(sub_order, event=ORDER_REJECTED, reason=reason, actor=actor)


def acceptance_expire_due(*, now: Any = None, limit: int = 200) -> int:
    """Beat: release sub-orders whose acceptance window lapsed (order.acceptance_expired). One
    transaction per sub-order, re-checked under its lock; bounded per run. Returns how many."""
    now = now or timezone.now()
    due = list(
        SubOrder.objects.filter(status=SO.AWAITING_ACCEPTANCE, accept_by__lte=now).order_by(
            "accept_by", "id"
        )[:limit]
    )
    expired = 0
    for sub_order in due:  # _close re-reads each under its locks
        try:
            if _close(
                sub_order,
                event=ORDER_ACCEPTANCE_EXPIRED,
                reason=LAPSED_REASON,
                actor="system",
                only_if_due=True,
            ):
                expired += 1
        except ApplicationError as exc:  # one bad row must not stop the batch
            logger.error("sub-order %s: acceptance expiry failed: %s", sub_order.pk, exc)
    return expired


# --- ship ----------------------------------------------------------------------------------------


def sub_order_mark_shipped(
    *, sub_order_id: Any, seller: Any, actor: str, tracking: str = ""
) -> SubOrder:
    """accepted -> shipped; the buyer's auto-confirm clock starts (confirm_by)."""
    tracking = " ".join(str(tracking or "").split())
    if len(tracking) > MAX_TRACKING_CHARS:
        raise ValidationError(f"At most {MAX_TRACKING_CHARS} characters.", field="tracking")
    sub_order = sub_order_get_for_seller(seller=seller, sub_order_id=sub_order_id)
    if sub_order.status == SO.SHIPPED:
        raise Conflict("You already marked this order shipped.", code="already_shipped")
    if sub_order.status != SO.ACCEPTED:
        raise Conflict(
            f"Only an accepted order can be shipped; this one is "
            f"{sub_order.get_status_display().lower()}.",
            code="not_accepted",
        )
    if sub_order.captured_minor == 0:
        _settle(sub_order.pk, capture=True, actor=actor)  # a capture the provider deferred
        sub_order.refresh_from_db()
        if sub_order.captured_minor == 0:
            raise TryAgainLater(
                "The buyer's payment for this order is not captured yet; try again shortly.",
                code="capture_pending",
            )
    now = timezone.now()
    with transaction.atomic():
        _lock_chain(sub_order)
        return sub_order_transition(
            sub_order_id=sub_order.pk,
            to_status=SO.SHIPPED,
            actor=actor,
            event=ORDER_SHIPPED,
            fields={"shipped_at": now, "confirm_by": now + conf.auto_confirm_window()},
            data={"tracking": tracking} if tracking else {},
        )
