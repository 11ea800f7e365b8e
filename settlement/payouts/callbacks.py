"""The bank's callbacks: POST /settlement/bank/callbacks (signed by the bank, Standard Webhooks).

Nothing in a callback is read before the gateway has verified its signature and timestamp. A
callback is acted on once, by its id: a duplicate is acknowledged (200) and changes nothing. Each
kind goes to the one service that owns it:

    transfer   a payout's status       -> settlement.payouts.services.apply_bank_answer
    incoming   a buyer's bank transfer -> payments' bank_transfer_record_arrival

Answers: 200 when acted on or already seen; 400 for a callback that does not verify (nothing
changed, nothing recorded); 404 for a payout the platform does not know (kept as a case in the
log; the bank stops retrying after its budget). Errors use the API's one error shape.

A batch (several transfer callbacks in one signed request, which the sandbox bank sends when
changes queue up) is applied in one transaction (handle_batch) and answered 200 with each
callback's outcome; one for an unknown payout is logged and left out, the rest applied.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.api.errors import error_response
from core.errors import ApplicationError
from payments.flows.bank_arrivals import bank_transfer_record_arrival
from settlement.gateways.base import BankCallback, InvalidBankCallback
from settlement.gateways.registry import get_bank_gateway
from settlement.models import BankCallbackReceipt
from settlement.payouts.answers import apply_bank_answer, apply_locked, lock_payouts
from settlement.payouts.crash_points import crash_point

logger = logging.getLogger(__name__)

# A batch of up to 500 transfer callbacks (settlement.gateways.sandbox.MAX_BATCH_CALLBACKS).
MAX_CALLBACK_BYTES = 1024 * 1024


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


_RECEIVE = """
INSERT INTO settlement_bankcallbackreceipt (callback_id, kind, received_at, payload)
SELECT item.id, 'transfer', now(), item.payload
  FROM jsonb_to_recordset(%s::jsonb) AS item(id text, payload jsonb)
ON CONFLICT (callback_id) DO NOTHING
RETURNING callback_id
"""


def handle_batch(callbacks: Sequence[BankCallback]) -> dict[str, str]:
    """Act once on each transfer callback of a batch, in one transaction: the receipts written
    in one statement (those already there are duplicates), the answers applied together
    (the payouts locked in id order first, one ledger call). A callback for a payout
    the platform does not know changes nothing and is logged; the rest are applied. Returns
    each callback id's outcome: "applied", "duplicate" or "unknown_payout"."""
    first: dict[str, BankCallback] = {}
    for callback in callbacks:
        if callback.kind != "transfer" or callback.transfer is None:
            raise InvalidBankCallback("A batch carries transfer callbacks only.")
        first.setdefault(callback.callback_id, callback)  # a copy in the same batch
    with transaction.atomic(), connection.cursor() as cursor:
        locked = lock_payouts([c.transfer.payout_id for c in first.values()])
        outcomes = {
            callback_id: "unknown_payout"
            for callback_id, callback in first.items()
            if callback.transfer.payout_id not in locked
        }
        for callback_id in outcomes:
            logger.warning(
                "bank callback %s names a payout the platform does not know", callback_id
            )
        fresh = [c for c in first.values() if c.callback_id not in outcomes]
        cursor.execute(
            _RECEIVE,
            [json.dumps([{"id": c.callback_id, "payload": c.raw} for c in fresh])],
        )
        received = {row[0] for row in cursor.fetchall()}
        apply_locked(locked, [c.transfer for c in fresh if c.callback_id in received])
        if fresh:
            crash_point("callback.before_commit", fresh[0].callback_id)
    for callback in fresh:
        outcomes[callback.callback_id] = (
            "applied" if callback.callback_id in received else "duplicate"
        )
    return outcomes


@csrf_exempt  # signed by the bank; there is no browser session to protect
@require_POST
def bank_callback(request: HttpRequest) -> JsonResponse:
    body = request.body
    if len(body) > MAX_CALLBACK_BYTES:
        return error_response("too_large", "The callback is too large.", http_status=413)
    headers = {key.lower(): value for key, value in request.headers.items()}
    try:
        callbacks = get_bank_gateway().handle_callbacks(headers=headers, body=body)
        if len(callbacks) == 1 and callbacks[0].callback_id == headers.get("webhook-id"):
            return JsonResponse({"received": True, "outcome": handle(callbacks[0])})
        return JsonResponse({"received": True, "outcomes": handle_batch(callbacks)})
    except ApplicationError as error:
        if error.http_status >= 500:
            raise
        logger.warning("bank callback refused: %s (%s)", error.code, error.message)
        return error_response(
            error.code, error.message, http_status=error.http_status, field=error.field
        )
