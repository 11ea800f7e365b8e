"""Incoming provider notifications (wallets' asynchronous notify, the bank's credit feed).

Each one is stored as received (WalletNotification: provider, notify_id, raw params, verified,
outcome, error) whatever happens to it. Nothing in it is believed before the provider's
handle_notification has verified the signature. A rejected notification changes nothing but its
own log row and is answered with HTTP 400 (not "success", so a genuine sender would retry); a
duplicate or out-of-order one is answered "success" and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from core.errors import ApplicationError
from payments.flows.bank_arrivals import bank_transfer_record_arrival
from payments.flows.models import Payment, WalletNotification, WalletNotificationOutcome
from payments.flows.provider_events import apply_provider_event, parse_payment_id
from payments.providers.base import InvalidNotification
from payments.providers.registry import BANK_PROVIDER, WALLET_PROVIDERS, get_provider

logger = logging.getLogger(__name__)
# Providers that may notify over HTTP at /pay/notify/<provider>/.
NOTIFYING_PROVIDERS = frozenset({*WALLET_PROVIDERS, BANK_PROVIDER})
_MAX_STORED_VALUE = 2048


@dataclass(frozen=True)
class NotificationReceipt:
    accepted: bool  # answer "success" (True) or HTTP 400 (False)
    notification: WalletNotification | None


def _storable(params: dict) -> dict:
    # Keep what was sent, bounded: this endpoint is open to the internet.
    return {str(k)[:64]: str(v)[:_MAX_STORED_VALUE] for k, v in list(params.items())[:60]}


def notification_record_rejected(
    provider: str, params: dict, error: str, *, verified: bool, payment=None
):
    note = WalletNotification.objects.create(
        provider=provider,
        notify_id=str(params.get("notify_id", ""))[:128],
        params=_storable(params),
        verified=verified,
        outcome=WalletNotificationOutcome.REJECTED,
        error=error[:2000],
        payment=payment,
    )
    logger.warning(
        "notification from %s rejected (notify_id=%s): %s", provider, note.notify_id, error
    )
    return NotificationReceipt(accepted=False, notification=note)


def notification_receive(*, provider_name: str, params: dict) -> NotificationReceipt:
    if provider_name not in NOTIFYING_PROVIDERS:
        raise InvalidNotification("Unknown provider.", code="unknown_provider")
    provider = get_provider(provider_name)
    try:
        event = provider.handle_notification(params)
    except InvalidNotification as exc:
        return notification_record_rejected(
            provider_name, params, f"{exc.code}: {exc.message}", verified=False
        )

    payment = None
    if provider_name != BANK_PROVIDER:
        payment_id = parse_payment_id(event.payment_id)
        payment = (
            Payment.objects.filter(pk=payment_id, provider=provider_name).first()
            if payment_id
            else None
        )
        if payment is None:
            return notification_record_rejected(
                provider_name, params, "unknown_payment: no such trade", verified=True
            )
    try:
        with transaction.atomic():
            note = WalletNotification.objects.create(
                provider=provider_name,
                notify_id=event.notify_id[:128],
                params=_storable(params),
                verified=True,
                outcome=WalletNotificationOutcome.APPLIED,
                payment=payment,
            )
            if provider_name == BANK_PROVIDER:
                result = bank_transfer_record_arrival(
                    reference=event.reference,
                    amount_minor=event.amount_minor,
                    currency=event.currency,
                    bank_transaction_id=event.notify_id,
                    actor=f"provider:{provider_name}",
                )
                note.payment, outcome = (
                    result.payment,
                    "duplicate" if result.duplicate else "applied",
                )
            else:
                _payment, outcome = apply_provider_event(
                    payment_id=payment.id, event=event, actor=f"provider:{provider_name}"
                )
            note.outcome = outcome
            note.save(update_fields=["outcome", "payment"])
    except IntegrityError:
        accepted_before = (
            WalletNotification.objects.filter(
                provider=provider_name, notify_id=event.notify_id[:128], verified=True
            )
            .exclude(outcome=WalletNotificationOutcome.REJECTED)
            .first()
        )
        if accepted_before is None:
            raise
        # This notify_id was accepted before (the sender retried): acknowledge, change nothing.
        logger.info("notification %s from %s: duplicate", event.notify_id, provider_name)
        return NotificationReceipt(accepted=True, notification=accepted_before)
    except ApplicationError as exc:
        return notification_record_rejected(
            provider_name, params, f"{exc.code}: {exc.message}", verified=True, payment=payment
        )
    logger.info(
        "notification %s from %s: %s (payment %s)",
        event.notify_id,
        provider_name,
        note.outcome,
        note.payment_id,
    )
    return NotificationReceipt(accepted=True, notification=note)
