"""Expiry and recovery (the payments.expire_due beat task): bank transfers past their deadline,
3-D Secure challenges nobody answered, wallet payments never approved, payments a crashed process
left in `created`, automatic captures a lost task left undone.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from payments import conf
from payments.flows import authorize
from payments.flows.authorize import authorize_request, authorize_with_retries
from payments.flows.capture import payments_capture_automatic_due
from payments.flows.failure_messages import buyer_message
from payments.flows.models import Payment, PaymentMethod, PaymentStatus
from payments.flows.provider_events import payment_complete_challenge
from payments.flows.state import payment_transition
from payments.flows.transitions import IllegalTransition
from payments.providers.base import ProviderError, ProviderResult
from payments.providers.registry import get_provider

logger = logging.getLogger(__name__)
S = PaymentStatus


def payments_expire_due(*, now=None, limit: int | None = None) -> dict[str, int]:
    """Expire what has waited too long: bank transfers past their deadline, 3-D Secure challenges
    nobody answered (abandoned -> failed), wallet payments never approved (closed -> expired).
    Each payment in its own transaction; at most `limit` of each kind per run."""
    now = now or timezone.now()
    limit = limit or int(conf.get("PAYMENTS_BATCH_SIZE"))
    counts = {"bank_transfer": 0, "three_d_secure": 0, "wallet": 0, "recovered": 0, "skipped": 0}
    counts["failed"] = 0
    # One bad row (or one sweep that breaks) never stops the others: each is guarded.
    counts["recovered"] = _guarded(counts, "recovery", payments_recover_stale, now=now, limit=limit)
    counts["captured"] = _guarded(
        counts, "automatic capture", payments_capture_automatic_due, now=now, limit=limit
    )
    due = Payment.objects.filter(expires_at__lte=now).order_by("expires_at")

    for payment_id in due.filter(status=S.AWAITING_TRANSFER).values_list("id", flat=True)[:limit]:
        try:
            _expire(
                payment_id,
                reason="no bank transfer arrived in time",
                failure_code="bank_transfer_expired",
            )
            counts["bank_transfer"] += 1
        except IllegalTransition:
            counts["skipped"] += 1  # money arrived meanwhile
        except Exception:
            logger.exception("payment %s: bank transfer expiry failed", payment_id)
            counts["failed"] += 1

    card_due = due.filter(status=S.REQUIRES_ACTION, method=PaymentMethod.CARD)
    for payment_id in card_due.values_list("id", flat=True)[:limit]:
        try:
            payment_complete_challenge(payment_id=payment_id, outcome="abandon", actor="system")
            counts["three_d_secure"] += 1
        except (ProviderError, IllegalTransition) as exc:
            logger.warning("payment %s: challenge expiry failed: %s", payment_id, exc)
            counts["skipped"] += 1
        except Exception:
            logger.exception("payment %s: challenge expiry failed", payment_id)
            counts["failed"] += 1

    wallet_due = due.filter(status=S.REQUIRES_ACTION, method=PaymentMethod.WALLET)
    for payment in wallet_due.only("id", "provider", "provider_reference")[:limit]:
        payment_id = payment.id
        try:
            get_provider(payment.provider).void(
                reference=payment.provider_reference,
                idempotency_key=f"payment:{payment.id}:expire",
            )
            _expire(
                payment_id,
                reason="not approved in the wallet in time",
                failure_code="wallet_expired",
            )
            counts["wallet"] += 1
        except (ProviderError, IllegalTransition) as exc:
            logger.warning("payment %s: wallet expiry skipped: %s", payment_id, exc)
            counts["skipped"] += 1
        except Exception:
            logger.exception("payment %s: wallet expiry failed", payment_id)
            counts["failed"] += 1
    return counts


def _guarded(counts: dict[str, int], name: str, sweep, **kwargs) -> int:
    try:
        return sweep(**kwargs)
    except Exception:
        logger.exception("payments.expire_due: the %s sweep failed", name)
        counts["failed"] += 1
        return 0


def payments_recover_stale(*, now=None, older_than_s: int = 600, limit: int | None = None) -> int:
    """Payments left in `created` by a process that died between calling the provider and
    applying its answer. The provider is asked what it did under the payment's idempotency key
    (a card processor is never sent the card again: the CVC is gone); wallets and bank transfers
    are simply asked again (idempotent, no secret needed). Returns how many were settled."""
    now = now or timezone.now()
    limit = limit or int(conf.get("PAYMENTS_BATCH_SIZE"))
    stale = Payment.objects.filter(
        status=S.CREATED, created_at__lte=now - timedelta(seconds=older_than_s)
    ).select_related("order", "vaulted_card")
    settled = 0
    for payment in stale.order_by("created_at")[:limit]:
        provider = get_provider(payment.provider)
        try:
            if payment.method == PaymentMethod.CARD:
                result = provider.lookup(idempotency_key=f"payment:{payment.id}:authorize")
                if result is None:  # the processor never saw it: nothing was charged
                    result = ProviderResult(
                        status="failed", reference="", failure_code="processing_error"
                    )
            else:
                result = authorize_with_retries(
                    payment_id=payment.id, request=authorize_request(payment)
                )
            authorize.apply_authorize_result(payment_id=payment.id, result=result, actor="system")
            settled += 1
        except (ProviderError, IllegalTransition) as exc:
            logger.warning("payment %s: recovery skipped: %s", payment.id, exc)
        except Exception:  # one bad row must not stop the sweep
            logger.exception("payment %s: recovery failed", payment.id)
    return settled


def _expire(payment_id, *, reason: str, failure_code: str) -> None:
    """Expire a due payment as the system, with the buyer-readable message for its code."""
    payment_transition(
        payment_id=payment_id,
        to_status=S.EXPIRED,
        actor="system",
        reason=reason,
        fields={"failure_code": failure_code, "failure_message": buyer_message(failure_code)},
    )
