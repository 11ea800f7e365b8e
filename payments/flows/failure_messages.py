"""What a buyer reads when a payment does not go through: plain words, what happened and what to
do next. Codes are the providers' (card decline codes) or the platform's own."""

from __future__ import annotations

_TRY_OTHER = "Try another card or pay another way."

MESSAGES: dict[str, str] = {
    "card_declined": f"Your card was declined. {_TRY_OTHER}",
    "insufficient_funds": f"Your card was declined because of insufficient funds. {_TRY_OTHER}",
    "expired_card": f"Your card has expired. {_TRY_OTHER}",
    "incorrect_cvc": (
        "The security code (CVC) you entered does not match your card. Check it and try again, "
        "or use another card."
    ),
    "processing_error": (
        "We could not reach your card's bank, so nothing was charged. Please try again in a few "
        "minutes or pay another way."
    ),
    "provider_unavailable": (
        "The payment service did not answer, so nothing was charged. Please try again in a few "
        "minutes or pay another way."
    ),
    "authentication_failed": (
        f"Your bank could not confirm that it was you, so nothing was charged. {_TRY_OTHER}"
    ),
    "authentication_abandoned": (
        "The security check with your bank was cancelled or timed out, so nothing was charged. "
        "You can try again or pay another way."
    ),
    "card_not_found": f"We could not use this card. {_TRY_OTHER}",
    "wallet_cancelled": "The payment was cancelled in the wallet app. Nothing was charged.",
    "wallet_expired": (
        "The payment was not approved in the wallet app in time. Nothing was charged."
    ),
    "bank_transfer_expired": (
        "We did not receive your bank transfer in time, so the order was not paid. If you have "
        "sent money, it will be returned to you."
    ),
    # Authorised, but the order could not be completed (payments.flows.unpayable).
    "order_not_payable": (
        "Your payment was approved, but the order could no longer be completed: it expired while "
        "the payment was being approved. We released the money at once, so you are not charged "
        "(a hold may take a few days to disappear from your statement). Please order again."
    ),
    "out_of_stock": (
        "Your payment was approved, but an item in your order sold out in the meantime. We "
        "released the money at once, so you are not charged (a hold may take a few days to "
        "disappear from your statement)."
    ),
}
DEFAULT = f"Your payment did not go through and nothing was charged. {_TRY_OTHER}"


def buyer_message(code: str) -> str:
    return MESSAGES.get(code, DEFAULT)
