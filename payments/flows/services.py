"""The payment side's services, in one place for callers (storefront, API, pages, tasks).

Implementation modules (payments/flows/): start, authorize, provider_events (3-D Secure, wallet
notifications applied), capture (and void), expiry, state and transitions (the state machine),
bank_arrivals, notifications; the vault (payments/vault/: cards and their validation).
"""

from payments.flows.bank_arrivals import ArrivalResult, bank_transfer_record_arrival
from payments.flows.capture import payment_capture, payment_void
from payments.flows.expiry import payments_expire_due
from payments.flows.notifications import NotificationReceipt, notification_receive
from payments.flows.pages import next_action_for, page_token
from payments.flows.provider_events import apply_provider_event, payment_complete_challenge
from payments.flows.start import PaymentStart, payment_start
from payments.flows.state import payment_transition
from payments.flows.transitions import TRANSITIONS, IllegalTransition
from payments.vault.cards import CardInput, validate_card
from payments.vault.services import (
    vault_delete_card,
    vault_detokenize,
    vault_rotate_keys,
    vault_store_card,
)

__all__ = [
    "TRANSITIONS",
    "ArrivalResult",
    "CardInput",
    "IllegalTransition",
    "NotificationReceipt",
    "PaymentStart",
    "apply_provider_event",
    "bank_transfer_record_arrival",
    "next_action_for",
    "notification_receive",
    "page_token",
    "payment_capture",
    "payment_complete_challenge",
    "payment_start",
    "payment_transition",
    "payment_void",
    "payments_expire_due",
    "validate_card",
    "vault_delete_card",
    "vault_detokenize",
    "vault_rotate_keys",
    "vault_store_card",
]
