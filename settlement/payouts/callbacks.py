"""The bank's callbacks: POST /settlement/bank/callbacks (signed by the bank, Standard Webhooks).

Nothing in a callback is read before the gateway has verified its signature and timestamp. A
callback is acted on once, by its id: a duplicate is acknowledged (200) and changes nothing. Each
kind goes to the one service that owns it:

    transfer   a payout's status       -> settlement.payouts.services.apply_bank_answer
    incoming   a buyer's bank transfer -> payments' bank_transfer_record_arrival

Answers: 200 when acted on or already seen; 400 for a callback that does not verify (nothing
changed, nothing recorded); 404 for a payout the platform does not know (kept as a case in the
log; the bank stops retrying after its budget). Errors use the API's one error shape.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.api.errors import error_response
from core.errors import ApplicationError
from payments.flows.bank_arrivals import bank_transfer_record_arrival
from settlement.gateways.base import BankCallback
from settlement.gateways.registry import get_bank_gateway
from settlement.models import BankCallbackReceipt
from settlement.payouts.crash_points import crash_point
from settlement.payouts.services import apply_bank_answer

logger = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64 * 1024


def handle(callback: BankCallback) -> str:
    """Act on a verified callback once; return "applied" or "duplicate"."""
    try:
        with transaction.atomic():
            BankCallbackReceipt.objects.create(
                callback_id=callback.callback_id, kind=callback.kind, payload=callback.raw
            )
            if callback.kind == "transfer":
                apply_bank_answer(callback.transfer)
                crash_point("callback.before_commit", callback.callback_id)
            elif callback.kind == "incoming":
                bank_transfer_record_arrival(
                    reference=callback.reference,
                    amount_minor=callback.amount_minor,
                    currency=callback.currency,
                    bank_transaction_id=callback.bank_reference,
                    actor="bank:callback",
                )
    except IntegrityError:
        if BankCallbackReceipt.objects.filter(callback_id=callback.callback_id).exists():
            return "duplicate"
        raise
    return "applied"


@csrf_exempt  # signed by the bank; there is no browser session to protect
@require_POST
def bank_callback(request: HttpRequest) -> JsonResponse:
    body = request.body
    if len(body) > MAX_CALLBACK_BYTES:
        return error_response("too_large", "The callback is too large.", http_status=413)
    headers = {key.lower(): value for key, value in request.headers.items()}
    try:
        callback = get_bank_gateway().handle_callback(headers=headers, body=body)
        outcome = handle(callback)
    except ApplicationError as error:
        if error.http_status >= 500:
            raise
        logger.warning("bank callback refused: %s (%s)", error.code, error.message)
        return error_response(
            error.code, error.message, http_status=error.http_status, field=error.field
        )
    return JsonResponse({"received": True, "outcome": outcome})
