"""The order document: what a seller is asked to accept, made once per sub-order when it is paid.

    order paid (in the payment's transaction) -> for each sub-order: accept_by = now + window,
                  order.paid; on commit the transaction's ONE dispatch task
                  (payments.dispatch_order_events) seals before it fans the events out
    sealing       -> for each paid sub-order without one: the canonical document (core.canonical),
                  sealed to the seller's encryption key -> order.sealed (one transaction each)
                  (order_documents_make; also the payments.seal_order_documents task's work)
    re-driven by  the documents sweeper (beat), the webhook sweeper's re-dispatch of order.paid,
                  and made on demand by every reader (order_document_ensure: seller order page
                  and API, acceptance services)

The document is canonical JSON (the exact bytes the seller signs; its SHA-256 identifies it):

    {"document_version": 1, "order": {"id", "number", "created_at"}, "sub_order_id", "seller_id",
     "items": [{"title", "unit_price_minor", "quantity", "amount_minor"}], "amount_minor",
     "currency", "shipping_address", "buyer_reference", "payment": {"method", "card": {"brand",
     "last4"} | null, "wallet": name | null}, "created_at"}

Sealing: core.crypto.seal (RSA-OAEP-SHA256 wrapping AES-256-GCM) with associated data
"clearhouse:order-document:<sub-order id>", to the seller's newest own encryption key, else to
their dashboard encryption key (accounts.dashboard_keys). A seller with neither gets the document
sealed as soon as a key appears (accounts' key services call order_documents_on_encryption_key:
payments/apps.py registers it with accounts.key_listeners; and the documents sweeper).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import KeyOrigin, KeyPurpose, SellerKey
from core import crypto
from core.canonical import canonical_json
from payments.flows.models import Payment
from payments.flows.sub_order_money import paid_payment_of
from payments.fulfilment.models import SealedOrderDocument
from payments.orders.buyer_reference import buyer_reference_for
from payments.orders.events import ORDER_SEALED, record_order_event
from payments.orders.models import Order, SubOrder, SubOrderStatus

logger = logging.getLogger(__name__)

DOCUMENT_VERSION = 1


def document_associated_data(sub_order_id: Any) -> bytes:
    """The GCM associated data of a sealed order document: a copy moved elsewhere will not open."""
    return f"clearhouse:order-document:{sub_order_id}".encode()


def buyer_reference(order: Order) -> str:
    """An opaque, stable buyer reference (HMAC of the buyer id or e-mail): the seller can tell
    repeat buyers apart without learning who they are."""
    return buyer_reference_for(buyer_id=order.buyer_id, buyer_email=order.buyer_email)


def _payment_summary(payment: Payment | None) -> dict:
    if payment is None:
        return {"method": None, "card": None, "wallet": None}
    details = payment.details if isinstance(payment.details, dict) else {}
    card = details.get("card") if isinstance(details.get("card"), dict) else None
    return {
        "method": payment.method,
        # Brand and last four only: the vault keeps the rest, and it never leaves it.
        "card": {"brand": str(card.get("brand", "")), "last4": str(card.get("last4", ""))}
        if card
        else None,
        "wallet": details.get("wallet") if payment.method == "wallet" else None,
    }


def build_order_document(sub_order: SubOrder, payment: Payment | None) -> dict:
    order = sub_order.order
    return {
        "document_version": DOCUMENT_VERSION,
        "order": {"id": order.id, "number": order.number, "created_at": order.created_at},
        "sub_order_id": sub_order.id,
        "seller_id": sub_order.seller_id,
        "items": [
            {
                "title": line.title,
                "unit_price_minor": line.unit_price_minor,
                "quantity": line.quantity,
                "amount_minor": line.amount_minor,
            }
            for line in sub_order.lines.order_by("id")
        ],
        "amount_minor": sub_order.amount_minor,
        "currency": sub_order.currency,
        "shipping_address": order.shipping_address or {},
        "buyer_reference": buyer_reference(order),
        "payment": _payment_summary(payment),
        "created_at": timezone.now().replace(microsecond=0),
    }


def seal_key_for(seller_id: Any) -> SellerKey | None:
    """The seller's newest own active encryption key, else their dashboard encryption key."""
    keys = SellerKey.objects.filter(
        seller_id=seller_id, purpose=KeyPurpose.ENCRYPTION, revoked_at__isnull=True
    ).order_by("-created_at")
    own = keys.exclude(origin=KeyOrigin.PLATFORM_HELD).first()
    if own is not None:
        return own
    return keys.filter(origin=KeyOrigin.PLATFORM_HELD, held_material__isnull=False).first()


def _seal(document: SealedOrderDocument, key: SellerKey, *, actor: str, resealed: bool) -> None:
    """Seal `document` to `key` and record order.sealed. Caller holds the document's row lock."""
    sealed = crypto.seal(
        key.public_pem,
        document.document_bytes,
        associated_data=document_associated_data(document.sub_order_id),
    )
    document.seller_key = key
    document.sealed = sealed
    document.sealed_at = timezone.now()
    document.save(update_fields=["seller_key", "sealed", "sealed_at"])
    sub_order = document.sub_order
    record_order_event(
        order=sub_order.order,
        sub_order=sub_order,
        kind=ORDER_SEALED,
        actor=actor,
        data={
            "sub_order": sub_order.pk,
            "seller": sub_order.seller_id,
            "document_version": document.version,
            "document_sha256": document.sha256,
            "key_id": str(key.id),
            "sealed_document": base64.b64encode(sealed).decode("ascii"),
            "associated_data": document_associated_data(sub_order.pk).decode(),
            "resealed": resealed,
        },
    )


def _document_create(
    sub_order: SubOrder, payment: Payment | None
) -> tuple[SealedOrderDocument, bool]:
    existing = SealedOrderDocument.objects.filter(sub_order=sub_order).first()
    if existing is not None:
        return existing, False
    text = canonical_json(build_order_document(sub_order, payment)).decode("utf-8")
    try:
        with transaction.atomic():
            document = SealedOrderDocument.objects.create(
                sub_order=sub_order,
                version=DOCUMENT_VERSION,
                canonical_document=text,
                sha256=crypto.sha256(text.encode("utf-8")).hex(),
            )
    except IntegrityError:  # made meanwhile by someone else: theirs stands
        return SealedOrderDocument.objects.get(sub_order=sub_order), False
    key = seal_key_for(sub_order.seller_id)
    if key is not None:
        _seal(document, key, actor="system", resealed=False)
    else:
        logger.warning("sub-order %s: seller has no encryption key yet; sealed later", sub_order.pk)
    return document, True


def order_document_create(*, sub_order: SubOrder, payment: Payment | None) -> SealedOrderDocument:
    """The sub-order's document, made once (unique per sub-order) and sealed if a key exists."""
    return _document_create(sub_order, payment)[0]


def _document_make(
    sub_order: SubOrder, payment: Payment | None
) -> tuple[SealedOrderDocument, bool]:
    # One transaction: the document, its sealed copy and order.sealed commit together.
    with transaction.atomic():
        return _document_create(sub_order, payment)


def _enqueue_seal(order_id: str) -> None:
    # tasks.py imports this module: the task is looked up when it is enqueued.
    from payments.fulfilment.tasks import seal_order_documents

    seal_order_documents.delay(order_id)


def seal_after_commit(*, order_id: Any) -> None:
    """After the current transaction commits (at once outside one), publish ONE
    `payments.seal_order_documents` task that makes and seals the documents of the order's paid
    sub-orders. Paying does not need it (the dispatch of order.paid seals); for a caller that
    marks sub-orders paid without an order.paid event. Robust: a broker outage fails nothing; the
    documents sweeper makes what a lost task left, and every reader makes the document on demand
    (order_document_ensure)."""
    order_id = str(order_id)
    transaction.on_commit(lambda: _enqueue_seal(order_id), robust=True)


def order_documents_make(*, order_id: Any) -> int:
    """The task's work: make and seal the document of each paid sub-order (accept_by set) of the
    order that has none, one transaction each. Idempotent (one document per sub-order: a replay
    or a concurrent reader changes nothing). Returns how many this call made."""
    sub_orders = list(
        SubOrder.objects.select_related("order")
        .filter(order_id=order_id, accept_by__isnull=False, sealed_document__isnull=True)
        .order_by("id")
    )
    if not sub_orders:
        return 0
    payment = paid_payment_of(order_id)
    return sum(_document_make(sub_order, payment)[1] for sub_order in sub_orders)


def order_document_ensure(sub_order: SubOrder) -> SealedOrderDocument | None:
    """The sub-order's document (seller_key loaded), made and sealed now if the sub-order is paid
    and the after-commit task has not made it yet; None for a sub-order not paid. Every reader that
    shows, opens or verifies against the document calls this, so a seller never sees "no document"
    because the task is late or was lost."""
    document = (
        SealedOrderDocument.objects.select_related("seller_key")
        .filter(sub_order_id=sub_order.pk)
        .first()
    )
    if document is not None or sub_order.accept_by is None:
        return document
    logger.info("sub-order %s: document made on read (the sealing task has not run)", sub_order.pk)
    return _document_make(sub_order, paid_payment_of(sub_order.order_id))[0]


def order_documents_make_missing(
    *, limit: int = 200, older_than: dt.timedelta = dt.timedelta(minutes=1)
) -> int:
    """Sweeper: paid sub-orders awaiting acceptance for more than `older_than` with no document
    (their sealing task was lost) get one, oldest first, at most `limit`. Returns how many."""
    due = list(
        SubOrder.objects.select_related("order")
        .filter(
            status=SubOrderStatus.AWAITING_ACCEPTANCE,
            accept_by__isnull=False,
            sealed_document__isnull=True,
            updated_at__lte=timezone.now() - older_than,
        )
        .order_by("accept_by", "id")[:limit]
    )
    payments: dict[Any, Payment | None] = {}
    made = 0
    for sub_order in due:
        if sub_order.order_id not in payments:
            payments[sub_order.order_id] = paid_payment_of(sub_order.order_id)
        try:
            made += _document_make(sub_order, payments[sub_order.order_id])[1]
        except Exception:  # one bad row must not stop the batch; the next run tries again
            logger.exception("sub-order %s: making its order document failed", sub_order.pk)
    return made


def order_documents_seal_pending(*, seller_id: Any) -> int:
    """Seal documents that waited for this seller to have an encryption key. Returns how many."""
    key = seal_key_for(seller_id)
    if key is None:
        return 0
    sealed = 0
    pending = SealedOrderDocument.objects.filter(
        sub_order__seller_id=seller_id, sealed__isnull=True
    ).values_list("pk", flat=True)
    for document_id in list(pending):
        with transaction.atomic():
            document = (
                SealedOrderDocument.objects.select_for_update()
                .select_related("sub_order__order")
                .get(pk=document_id)
            )
            if document.sealed is None:
                _seal(document, key, actor="system", resealed=False)
                sealed += 1
    return sealed


def order_documents_seal_due(*, limit: int = 200) -> int:
    """Sweeper: seal documents still waiting whose seller now has a key (the on-commit hook that
    normally does it was lost). Returns how many were sealed."""
    seller_ids = (
        SealedOrderDocument.objects.filter(sealed__isnull=True)
        .values_list("sub_order__seller_id", flat=True)
        .distinct()[:limit]
    )
    return sum(order_documents_seal_pending(seller_id=seller_id) for seller_id in list(seller_ids))


def order_documents_reseal(*, seller_id: Any, revoked_key_ids: list) -> int:
    """Re-seal the documents of open sub-orders (awaiting acceptance) that were sealed to keys now
    revoked (a password reset replaced the dashboard keys). Runs in the caller's transaction."""
    key = seal_key_for(seller_id)
    if key is None:
        return 0
    documents = (
        SealedOrderDocument.objects.select_for_update(of=("self",))
        .select_related("sub_order__order")
        .filter(
            sub_order__seller_id=seller_id,
            sub_order__status=SubOrderStatus.AWAITING_ACCEPTANCE,
            seller_key_id__in=revoked_key_ids,
        )
        .order_by("pk")
    )
    count = 0
    for document in documents:
        _seal(document, key, actor=f"seller:{seller_id}", resealed=True)
        count += 1
    return count


def order_documents_on_keys_replaced(*, seller: Any, revoked: list, created: Any) -> None:
    """A password reset replaced the seller's dashboard keys (accounts.key_listeners, in the
    reset's transaction): open orders sealed to the revoked keys move to the new one."""
    order_documents_reseal(seller_id=seller.pk, revoked_key_ids=[key.pk for key in revoked])


def order_documents_on_encryption_key(seller_id: Any) -> None:
    """The seller registered an encryption key (accounts.key_listeners, after commit): seal what
    waited for one."""
    order_documents_seal_pending(seller_id=seller_id)
    # Open orders sealed to a key the seller has since revoked move to the new key.
    revoked = SellerKey.objects.filter(
        seller_id=seller_id, purpose=KeyPurpose.ENCRYPTION, revoked_at__isnull=False
    ).values_list("pk", flat=True)
    with transaction.atomic():
        order_documents_reseal(seller_id=seller_id, revoked_key_ids=list(revoked))
