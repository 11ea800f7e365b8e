"""The two-sided confirmation of a paid payout (step 7 of docs/architecture.md).

    acknowledgements_request(payout_id)   once a payout is paid: the seller's acknowledgement of
                                          the payout and one per buyer's sub-order it settles,
                                          each with its statement and window (idempotent)
    seller_acknowledge(...)               a signature over the payout statement with one of the
                                          seller's registered signing keys (API)
    seller_acknowledge_with_password(...) the dashboard: the password unlocks the dashboard key
    buyer_acknowledge(...)                a click (the buyer's platform-held key signs) or the
                                          buyer's own key's signature (API)
    acknowledgement_dispute(...)          "not received" / "wrong amount": a case for staff; the
                                          record stays open until staff resolve it
    case_resolve(...)                     staff close the case; the record can complete
    lapse_due(now)                        pending past the window -> lapsed (an automatic one)

Every check (who may answer, the state, the window, the signature over the stored statement's
exact bytes) runs before anything changes, and again under the acknowledgement's row lock; a
refusal is a core.errors error with a code and the field at fault, and changes nothing. Two
answers at once: the second finds the row answered (409) - one acknowledgement, one record.

Lock order: Payout, then its Acknowledgement rows. The receipts of the sub-orders concerned are
brought up to date after commit (settlement.acknowledgement_record), which stores the
confirmation record once complete; the sweeper re-drives what a lost message left undone.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.dashboard_keys import dashboard_keys_of
from accounts.models import SellerKey
from core import crypto
from core.errors import Conflict, NotFound, ValidationError
from payments.flows.selectors import is_platform_staff
from payments.fulfilment.acceptance import SignatureInvalid, parse_signature, seller_signing_key
from payments.fulfilment.dashboard_acceptance import unlock_dashboard_key
from payments.models import SealedOrderDocument, SubOrder
from settlement.confirmations import statements
from settlement.confirmations.models import (
    CLOSED_STATES,
    AckAnswer,
    Acknowledgement,
    AckSide,
    AckState,
)
from settlement.models import Payout, PayoutStatus
from settlement.payouts.notifications import sub_order_amounts
from settlement.receipts.facts import party_id

MAX_NOTE_CHARS = 500
MAX_PEM_CHARS = 8192
DISPUTE_ANSWERS = (AckAnswer.NOT_RECEIVED, AckAnswer.WRONG_AMOUNT)


class AcknowledgementNotFound(NotFound):
    code = "acknowledgement_not_found"


class AlreadyAnswered(Conflict):
    """This acknowledgement was already given, disputed or lapsed."""

    code = "already_acknowledged"


class AcknowledgementLapsed(Conflict):
    """The window closed: the acknowledgement lapsed into an automatic one."""

    code = "acknowledgement_lapsed"


class NotDisputed(Conflict):
    code = "not_disputed"


# --- Asking -------------------------------------------------------------------------------------


def _buyer_party(sub_order: SubOrder) -> str:
    order = sub_order.order
    if order.buyer_id:
        return party_id(f"user:{order.buyer_id}")
    return party_id(f"guest:{order.buyer_email.lower()}")


def acknowledgements_request(payout_id: uuid.UUID | str) -> list[uuid.UUID]:
    """Ask both sides of a paid payout (see the module docstring); the ids asked now. Safe to run
    again: the payout's row lock and the unique constraints make each acknowledgement once."""
    with transaction.atomic():
        payout = (
            Payout.objects.select_for_update(of=("self",))
            .select_related("seller", "batch")
            .get(pk=payout_id)
        )
        if payout.status != PayoutStatus.PAID or payout.paid_at is None:
            return []
        existing = set(
            Acknowledgement.objects.filter(payout=payout).values_list("side", "sub_order_id")
        )
        amounts: dict[int, int] = {}
        for (sub_order_id, _currency), minor in sub_order_amounts(payout).items():
            amounts[sub_order_id] = amounts.get(sub_order_id, 0) + minor
        sub_orders = list(
            SubOrder.objects.filter(pk__in=amounts, seller_id=payout.seller_id)
            .select_related("order")
            .order_by("pk")
        )
        documents = dict(
            SealedOrderDocument.objects.filter(sub_order__in=sub_orders).values_list(
                "sub_order_id", "sha256"
            )
        )
        due_at = payout.paid_at + statements.acknowledgement_window(payout.seller)
        created: list[Acknowledgement] = []
        if (AckSide.SELLER, None) not in existing:
            statement = statements.payout_statement(
                payout=payout,
                seller_party_id=party_id(f"user:{payout.seller_id}"),
                order_ids=[s.order_id for s in sub_orders],
            )
            created.append(_new(payout, AckSide.SELLER, None, payout.seller_id, statement, due_at))
        for sub_order in sub_orders:
            if (AckSide.BUYER, sub_order.pk) in existing:
                continue
            statement = statements.order_statement(
                payout=payout,
                sub_order=sub_order,
                buyer_party_id=_buyer_party(sub_order),
                paid_minor=amounts[sub_order.pk],
                order_document_sha256=documents.get(sub_order.pk),
            )
            created.append(
                _new(payout, AckSide.BUYER, sub_order, sub_order.order.buyer_id, statement, due_at)
            )
        Acknowledgement.objects.bulk_create(created)
        ids = [ack.pk for ack in created]
        if ids:
            from settlement.confirmations import tasks

            transaction.on_commit(lambda: tasks.enqueue_asks(ids), robust=True)
    return ids


def _new(
    payout: Payout,
    side: str,
    sub_order: SubOrder | None,
    party_user_id: int | None,
    statement: bytes,
    due_at: dt.datetime,
) -> Acknowledgement:
    return Acknowledgement(
        side=side,
        payout=payout,
        sub_order=sub_order,
        party_id=party_user_id,
        statement=statement,
        statement_sha256=crypto.sha256(statement).hex(),
        due_at=due_at,
    )


# --- Who sees what ------------------------------------------------------------------------------


def acknowledgements_visible_to(user: Any) -> QuerySet[Acknowledgement]:
    """The user's own acknowledgements (staff: all, for the cases)."""
    rows = Acknowledgement.objects.select_related("payout", "sub_order", "sub_order__order")
    if is_platform_staff(user):
        return rows
    return rows.filter(party_id=user.pk)


def waiting_on(user: Any, *, now: dt.datetime | None = None) -> QuerySet[Acknowledgement]:
    """What waits on the user: their pending acknowledgements whose window is still open."""
    now = now or timezone.now()
    return acknowledgements_visible_to(user).filter(
        party_id=user.pk, state=AckState.PENDING, due_at__gt=now
    )


def acknowledgement_get(user: Any, ack_id: Any) -> Acknowledgement:
    """The user's own acknowledgement (staff: any); anyone else's is NotFound, as if none."""
    try:
        ack_uuid = uuid.UUID(str(ack_id))
    except (TypeError, ValueError, AttributeError):
        raise AcknowledgementNotFound("No such acknowledgement.") from None
    ack = acknowledgements_visible_to(user).filter(pk=ack_uuid).first()
    if ack is None:
        raise AcknowledgementNotFound("No such acknowledgement.")
    return ack


def _own(user: Any, ack_id: Any, side: str) -> Acknowledgement:
    """The acknowledgement `user` is asked for (staff may see but not answer others')."""
    ack = acknowledgement_get(user, ack_id)
    if ack.party_id != user.pk or ack.side != side:
        raise AcknowledgementNotFound("No such acknowledgement.")
    return ack


def check_open(ack: Acknowledgement, now: dt.datetime | None = None) -> None:
    """Raise the specific reason an acknowledgement cannot be answered now."""
    if ack.state == AckState.LAPSED or (
        ack.state == AckState.PENDING and ack.due_at <= (now or timezone.now())
    ):
        raise AcknowledgementLapsed(
            "The time to answer has run out: this acknowledgement lapsed into an automatic one."
        )
    if ack.state in (AckState.DISPUTED, AckState.RESOLVED):
        raise AlreadyAnswered(
            "You already reported a problem with this payout; staff handle the case."
        )
    if ack.state != AckState.PENDING:
        raise AlreadyAnswered("You already acknowledged this.")


# --- Answering ----------------------------------------------------------------------------------


def _close(ack_id: uuid.UUID, *, seller_key_id: Any = None, **fields: Any) -> Acknowledgement:
    """Under the payout's and then the acknowledgement's row lock: check again (a concurrent
    answer or the lapse won; the seller's key revoked meanwhile), then write `fields` and
    schedule the record."""
    with transaction.atomic():
        ack = Acknowledgement.objects.only("payout_id").get(pk=ack_id)
        Payout.objects.select_for_update().filter(pk=ack.payout_id).first()
        locked = Acknowledgement.objects.select_for_update().get(pk=ack_id)
        check_open(locked)
        if (
            seller_key_id is not None
            and SellerKey.objects.select_for_update(no_key=True)
            .filter(pk=seller_key_id, revoked_at__isnull=True)
            .first()
            is None
        ):
            raise ValidationError(
                "This key was revoked; sign with an active signing key.",
                code="key_revoked",
                field="key_id",
            )
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*fields, "updated_at"])
        _record_on_commit(locked)
    return locked


def _record_on_commit(ack: Acknowledgement) -> None:
    if ack.state in CLOSED_STATES or ack.state == AckState.DISPUTED:
        from settlement.confirmations import tasks

        transaction.on_commit(lambda: tasks.enqueue_record(ack.pk), robust=True)


def _signed(
    signer: str, algorithm: str, public_pem: str, fingerprint: str, signature: bytes
) -> dict[str, Any]:
    return {
        "state": AckState.GIVEN,
        "answer": AckAnswer.RECEIVED,
        "answered_at": timezone.now(),
        "signer": signer,
        "algorithm": algorithm,
        "public_pem": public_pem,
        "key_fingerprint": fingerprint,
        "signature": signature,
    }


def _verify(public_pem: str, algorithm: str, statement: bytes, signature: bytes, what: str) -> None:
    try:
        crypto.verify(public_pem, statement, signature, algorithm=algorithm)
    except crypto.InvalidKey:
        raise ValidationError(
            f"This key cannot make {algorithm} signatures.",
            code="algorithm_mismatch",
            field="algorithm",
        ) from None
    except crypto.CryptoError:
        raise SignatureInvalid(
            "The signature does not verify: sign the exact bytes of this acknowledgement's "
            f"statement (SHA-256 {crypto.sha256(statement).hex()}) with {what}.",
            field="signature",
        ) from None


def seller_acknowledge(
    *,
    ack_id: Any,
    seller: Any,
    key_id: Any,
    signature_b64: Any,
    algorithm: str | None = None,
) -> Acknowledgement:
    """ "Received": the seller's signature over the payout statement, checked before anything."""
    ack = _own(seller, ack_id, AckSide.SELLER)
    check_open(ack)
    key = seller_signing_key(seller=seller, key_id=key_id, algorithm=algorithm)
    signature = parse_signature(signature_b64)
    statement = bytes(ack.statement)
    _verify(key.public_pem, key.algorithm, statement, signature, f"the private half of {key.id}")
    return _close(
        ack.pk,
        seller_key_id=key.pk,
        **_signed("seller", key.algorithm, key.public_pem, key.fingerprint, signature),
    )


def seller_acknowledge_with_password(*, ack_id: Any, seller: Any, password: str) -> Acknowledgement:
    """The dashboard: the password unlocks the dashboard signing key, which signs the statement;
    then exactly the API's path."""
    ack = _own(seller, ack_id, AckSide.SELLER)
    check_open(ack)
    if not password:
        raise ValidationError("Enter your password to sign.", field="password")
    key = dashboard_keys_of(seller).signing
    if key is None:
        raise Conflict(
            "You have no dashboard signing key yet: log out and in again to create it, or "
            "acknowledge through the API with your own key.",
            code="no_dashboard_key",
        )
    private_pem = unlock_dashboard_key(seller, key, password)
    signature = crypto.sign(private_pem, bytes(ack.statement), algorithm=key.algorithm)
    return seller_acknowledge(
        ack_id=ack.pk,
        seller=seller,
        key_id=key.id,
        signature_b64=base64.b64encode(signature).decode("ascii"),
    )


def buyer_acknowledge(
    *,
    ack_id: Any,
    buyer: Any,
    public_key_pem: Any = None,
    signature_b64: Any = None,
    algorithm: Any = None,
) -> Acknowledgement:
    """ "Received": a click (the buyer's platform-held key signs the statement), or, through the
    API, a signature by the buyer's own key (its public half given with it)."""
    ack = _own(buyer, ack_id, AckSide.BUYER)
    check_open(ack)
    statement = bytes(ack.statement)
    if public_key_pem in (None, "") and signature_b64 in (None, ""):
        private_pem, public_pem = statements.buyer_key(buyer.pk)
        signature = crypto.sign(private_pem, statement, algorithm=crypto.ED25519)
        info = crypto.inspect_public_key(public_pem, purpose="signing")
        return _close(
            ack.pk,
            **_signed(
                "platform_buyer_key", crypto.ED25519, public_pem, info.fingerprint, signature
            ),
        )
    if not isinstance(public_key_pem, str) or not public_key_pem.strip():
        raise ValidationError(
            "Give the public key (PEM) that made the signature.",
            code="public_key_missing",
            field="public_key_pem",
        )
    if len(public_key_pem) > MAX_PEM_CHARS:
        raise ValidationError("The public key is too long.", field="public_key_pem")
    try:
        info = crypto.inspect_public_key(public_key_pem, purpose="signing")
    except crypto.CryptoError as exc:
        raise ValidationError(
            f"This is not a usable signing key: {exc}", code="invalid_key", field="public_key_pem"
        ) from None
    if algorithm not in (None, "") and algorithm != info.algorithm:
        raise ValidationError(
            f"The key is an {info.algorithm} key, not {algorithm}.",
            code="algorithm_mismatch",
            field="algorithm",
        )
    signature = parse_signature(signature_b64)
    _verify(info.public_pem, info.algorithm, statement, signature, "your key's private half")
    return _close(
        ack.pk,
        **_signed("buyer", info.algorithm, info.public_pem, info.fingerprint, signature),
    )


def acknowledgement_dispute(*, ack_id: Any, user: Any, answer: Any, note: Any) -> Acknowledgement:
    """ "Not received" or "wrong amount" instead: the acknowledgement is disputed, a case for
    staff; the record stays open until they resolve it."""
    ack = acknowledgement_get(user, ack_id)
    if ack.party_id != user.pk:
        raise AcknowledgementNotFound("No such acknowledgement.")
    if answer not in DISPUTE_ANSWERS:
        raise ValidationError(
            'The answer is "received", "not_received" or "wrong_amount".', field="answer"
        )
    if note is None:
        note = ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise ValidationError(
            f"Say what is wrong in at most {MAX_NOTE_CHARS} characters.", field="note"
        )
    check_open(ack)
    return _close(
        ack.pk,
        state=AckState.DISPUTED,
        answer=answer,
        answered_at=timezone.now(),
        case_note=note.strip(),
    )


def case_resolve(*, ack_id: Any, staff: Any, resolution: Any) -> Acknowledgement:
    """Staff close a disputed acknowledgement's case; the record then completes."""
    if not is_platform_staff(staff):
        raise AcknowledgementNotFound("No such acknowledgement.")
    if not isinstance(resolution, str) or not resolution.strip():
        raise ValidationError("Say how the case was resolved.", field="resolution")
    if len(resolution) > MAX_NOTE_CHARS:
        raise ValidationError(f"At most {MAX_NOTE_CHARS} characters.", field="resolution")
    ack = acknowledgement_get(staff, ack_id)
    with transaction.atomic():
        Payout.objects.select_for_update().filter(pk=ack.payout_id).first()
        locked = Acknowledgement.objects.select_for_update().get(pk=ack.pk)
        if locked.state != AckState.DISPUTED:
            raise NotDisputed("This acknowledgement has no open case.")
        locked.state = AckState.RESOLVED
        locked.case_resolved_at = timezone.now()
        locked.case_resolution = resolution.strip()
        locked.case_resolved_by = staff
        locked.save(
            update_fields=[
                "state",
                "case_resolved_at",
                "case_resolution",
                "case_resolved_by",
                "updated_at",
            ]
        )
        _record_on_commit(locked)
    return locked


# --- The clock ----------------------------------------------------------------------------------

SWEEP_LIMIT = 500


def lapse_due(*, now: dt.datetime | None = None, limit: int = SWEEP_LIMIT) -> list[uuid.UUID]:
    """Pending acknowledgements past their window lapse into automatic ones (at their due time).
    Rows being answered right now are skipped (SKIP LOCKED): the answer, or the next run, wins."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Acknowledgement.objects.select_for_update(skip_locked=True)
            .filter(state=AckState.PENDING, due_at__lte=now)
            .order_by("due_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Acknowledgement.objects.filter(pk__in=ids, state=AckState.PENDING).update(
                state=AckState.LAPSED, updated_at=now
            )
            from settlement.confirmations import tasks

            transaction.on_commit(lambda: [tasks.enqueue_record(pk) for pk in ids], robust=True)
    return ids


def reminders_due(*, now: dt.datetime | None = None, limit: int = SWEEP_LIMIT) -> list[uuid.UUID]:
    """Claim the pending acknowledgements to remind (asked, not reminded, the window closing
    within REMIND_BEFORE): each is claimed once, by the conditional update."""
    now = now or timezone.now()
    candidates = list(
        Acknowledgement.objects.filter(
            state=AckState.PENDING,
            asked_at__isnull=False,
            reminded_at__isnull=True,
            due_at__gt=now,
            due_at__lte=now + statements.REMIND_BEFORE,
        ).values_list("pk", flat=True)[:limit]
    )
    claimed = []
    for pk in candidates:
        if Acknowledgement.objects.filter(pk=pk, reminded_at__isnull=True).update(reminded_at=now):
            claimed.append(pk)
    return claimed


def asks_due(*, limit: int = SWEEP_LIMIT) -> list[uuid.UUID]:
    """Acknowledgements whose asking (email, webhook, order event) was lost."""
    older = timezone.now() - dt.timedelta(minutes=1)
    return list(
        Acknowledgement.objects.filter(
            asked_at__isnull=True, state=AckState.PENDING, created_at__lte=older
        ).values_list("pk", flat=True)[:limit]
    )


def records_due(*, limit: int = SWEEP_LIMIT) -> list[uuid.UUID]:
    """Closed acknowledgements whose receipts were not brought up to date (a lost message)."""
    older = timezone.now() - dt.timedelta(minutes=1)
    return list(
        Acknowledgement.objects.filter(
            state__in=CLOSED_STATES, recorded_at__isnull=True, updated_at__lte=older
        ).values_list("pk", flat=True)[:limit]
    )


def payouts_unasked(*, limit: int = SWEEP_LIMIT) -> list[uuid.UUID]:
    """Paid payouts of the last 60 days whose acknowledgements were never asked (the payout's
    notification message was lost before it asked)."""
    since = timezone.now() - dt.timedelta(days=60)
    return list(
        Payout.objects.filter(status=PayoutStatus.PAID, paid_at__gte=since)
        .exclude(acknowledgements__side=AckSide.SELLER)
        .values_list("pk", flat=True)[:limit]
    )


# --- The record ---------------------------------------------------------------------------------


def acknowledgement_record(ack_id: uuid.UUID | str) -> list[int]:
    """Bring up to date the receipts of the sub-orders an answered acknowledgement concerns (a
    buyer's: its own; the seller's: every one the payout settles); the issue that finds a record
    complete stores it. Stamps `recorded_at` once closed. Idempotent: an unchanged receipt is not
    issued again. Returns the sub-order ids."""
    from settlement.receipts.services import ReceiptUnavailable, receipt_issue

    ack = Acknowledgement.objects.get(pk=ack_id)
    if ack.side == AckSide.BUYER:
        sub_order_ids = [ack.sub_order_id]
    else:
        sub_order_ids = list(
            Acknowledgement.objects.filter(payout_id=ack.payout_id, side=AckSide.BUYER)
            .order_by("sub_order_id")
            .values_list("sub_order_id", flat=True)
        )
    for sub_order_id in sub_order_ids:
        try:
            receipt_issue(sub_order_id=sub_order_id)
        except ReceiptUnavailable:
            continue
    if ack.state in CLOSED_STATES:
        Acknowledgement.objects.filter(pk=ack.pk, recorded_at__isnull=True).update(
            recorded_at=timezone.now()
        )
    return [pk for pk in sub_order_ids if pk is not None]
