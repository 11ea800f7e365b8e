"""SandboxBankGateway: the platform's client of the sandbox bank (sandbox_bank/, its own process).

Requests are signed with the platform's bank key (Ed25519, CLEARHOUSE_BANK_SIGNING_KEY) over
method, target, timestamp and body, in the format sandbox_bank/auth.py checks; callbacks are
verified with the bank's Standard Webhooks secret (CLEARHOUSE_BANK_WEBHOOK_SECRET) before their
content is read. What the bank's answers mean here:

    2xx                             the answer (TransferResult, statement bytes)
    404 on status                   None: the bank never received this payout
    other 4xx                       BankError: refused for good (bad IBAN, key reused, bad signature)
    5xx, 429, no answer, timeout    BankUnavailable: the outcome is unknown; ask `status` first

Every answer about a transfer carries the bank's own time of the state it reports
(TransferResult.occurred_at): the transfer's `<status>_at` (accepted_at, paid_at, ...), the same
whether a submit, a status query or a callback tells it; a callback without it, its timestamp.

Payout ids travel as the transfer's end-to-end id, so they must fit ISO 20022's 35 characters
in the URL-safe part of the SEPA set (letters, digits, '.', '-'): a UUID's 32-character hex form
fits, its 36-character hyphenated form does not (the bank refuses it: BankError).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from django.core.exceptions import ImproperlyConfigured
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.crypto.errors import CryptoError
from core.crypto.keys import ED25519, AnyKey, load_private_key, public_key_pem
from core.crypto.signatures import sign_with_key
from settlement.gateways.base import (
    FINAL_TRANSFER_STATUSES,
    BankCallback,
    BankError,
    BankGateway,
    BankUnavailable,
    CreditTransfer,
    InvalidBankCallback,
    TransferResult,
)
from settlement.gateways.http import Answer, Session

SIGNATURE_DOMAIN = b"clearhouse-bank-request/v1\n"
TIMESTAMP_HEADER = "X-Clearhouse-Timestamp"
SIGNATURE_HEADER = "X-Clearhouse-Signature"
TRANSFER_STATUSES = frozenset({"accepted", *FINAL_TRANSFER_STATUSES})
_TRANSFER_EVENTS = {"transfer.paid": "paid", "transfer.rejected": "rejected"}
_TRANSFER_EVENTS["transfer.returned"] = "returned"
_INCOMING_EVENT = "incoming.credited"
_BATCH_EVENT = "batch"
MAX_BATCH_CALLBACKS = 500
MAX_SUBMIT_BATCH = 100  # the sandbox bank's MAX_BATCH_TRANSFERS
MAX_CALLBACK_ID_LENGTH = 128  # BankCallbackReceipt.callback_id
# PKCS#8 (RFC 8410) DER of an Ed25519 private key is this prefix followed by the 32-byte seed.
_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_MAX_LIST_PAGES = 10_000


def signed_message(method: str, target: str, timestamp: str, body: bytes) -> bytes:
    return SIGNATURE_DOMAIN + f"{method.upper()}\n{target}\n{timestamp}\n".encode() + body


def signing_key_pem(value: str) -> str:
    """The bank signing key as PKCS#8 PEM, from PEM text or the base64 of a 32-byte seed."""
    text = (value or "").strip()
    if not text:
        raise ImproperlyConfigured("CLEARHOUSE_BANK_SIGNING_KEY is not set")
    if text.startswith("-----BEGIN"):
        return text
    try:
        seed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(
            "CLEARHOUSE_BANK_SIGNING_KEY is neither PEM nor base64"
        ) from None
    if len(seed) != 32:
        raise ImproperlyConfigured(
            f"CLEARHOUSE_BANK_SIGNING_KEY is {len(seed)} bytes; an Ed25519 seed is 32"
        )
    der = base64.b64encode(_ED25519_PKCS8_PREFIX + seed).decode()
    return f"-----BEGIN PRIVATE KEY-----\n{der}\n-----END PRIVATE KEY-----\n"


def _load_signing_key(value: str) -> AnyKey:
    try:
        key = load_private_key(signing_key_pem(value))
    except CryptoError as exc:
        raise ImproperlyConfigured(f"CLEARHOUSE_BANK_SIGNING_KEY is not usable: {exc}") from None
    if getattr(key, "curve", None) != "Ed25519":
        raise ImproperlyConfigured("CLEARHOUSE_BANK_SIGNING_KEY must be an Ed25519 key")
    return key


def bank_public_key_pem(signing_key: str) -> str:
    """The public half the bank is given to check the platform's requests."""
    return public_key_pem(_load_signing_key(signing_key))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# Where the bank's transfer JSON (sandbox_bank.banking.transfer_json) keeps the time of each state.
_STATE_TIMES = {
    "accepted": "accepted_at",
    "paid": "paid_at",
    "rejected": "rejected_at",
    "returned": "returned_at",
}


def _bank_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 time with its offset, as the bank writes them; None if it is not one."""
    try:
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.utcoffset() is not None else None


def transfer_result(data: Any) -> TransferResult:
    """A TransferResult from the bank's transfer JSON; ValueError if it is not one."""
    if not isinstance(data, dict) or data.get("status") not in TRANSFER_STATUSES:
        raise ValueError("not a transfer")
    amount = data.get("amount_minor")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError("a transfer's amount is a positive integer")
    if not _text(data.get("payout_id")) or not _text(data.get("currency")):
        raise ValueError("a transfer names its payout and currency")
    return TransferResult(
        status=data["status"],
        payout_id=data["payout_id"],
        bank_reference=_text(data.get("bank_reference")),
        amount_minor=amount,
        currency=data["currency"],
        failure_code=_text(data.get("failure_code")),
        failure_message=_text(data.get("failure_message")),
        raw=data,
        occurred_at=_bank_time(data.get(_STATE_TIMES[data["status"]])),
    )


def _transfer_request(transfer: CreditTransfer) -> dict[str, Any]:
    return {
        "payout_id": transfer.payout_id,
        "amount_minor": transfer.amount_minor,
        "currency": transfer.currency,
        "creditor_name": transfer.creditor_name,
        **_creditor_account(transfer),
        "creditor_bic": transfer.bic,
        "remittance": transfer.remittance,
    }


def _refused(status: int, detail: dict, what: str) -> BankError:
    """The error for a refusal the bank answered with `status` and its {"code", "message",
    "field"} detail: BankUnavailable (5xx, 429) when trying again may help."""
    extra = {"bank_code": _text(detail.get("code")) or f"http_{status}", "http_status": status}
    if status >= 500 or status == 429:
        return BankUnavailable(f"The bank failed {what} ({status}): outcome unknown.", extra=extra)
    message = f"The bank refused {what}: {_text(detail.get('message')) or status}"
    return BankError(message, field=_text(detail.get("field")) or None, extra=extra)


def _same_transfer(transfer: CreditTransfer, result: TransferResult) -> TransferResult:
    """The bank's answer, if it is about this transfer (BankError otherwise)."""
    if (result.payout_id, result.amount_minor, result.currency) != (
        transfer.payout_id,
        transfer.amount_minor,
        transfer.currency,
    ):
        raise BankError(
            f"The bank answered payout {transfer.payout_id} with another transfer's details."
        )
    return result


def _creditor_account(transfer: CreditTransfer) -> dict[str, str]:
    """The account paid: by IBAN, or a US one by routing and account number."""
    if transfer.iban or not transfer.routing_number:
        return {"creditor_iban": transfer.iban}
    return {
        "creditor_routing_number": transfer.routing_number,
        "creditor_account_number": transfer.account_number,
    }


class SandboxBankGateway(BankGateway):
    name = "sandbox"

    def __init__(
        self,
        *,
        base_url: str,
        signing_key: str,
        webhook_secret: str,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ImproperlyConfigured(f"SANDBOX_BANK_URL {base_url!r} is not an http(s) URL")
        if not (webhook_secret or "").strip():
            raise ImproperlyConfigured("CLEARHOUSE_BANK_WEBHOOK_SECRET is not set")
        try:
            self._webhook = Webhook(webhook_secret.strip())
        except (binascii.Error, ValueError, RuntimeError) as exc:
            raise ImproperlyConfigured(
                f"CLEARHOUSE_BANK_WEBHOOK_SECRET is not usable: {exc}"
            ) from None
        self.base_url = base_url.rstrip("/")
        self._key = _load_signing_key(signing_key)
        self.timeout_s = timeout_s
        self._clock = clock
        # One kept-alive connection per thread: a worker's submits of a few payouts, and its
        # next task's, go over the same one.
        self._session = Session(self.base_url, timeout_s=timeout_s)

    # --- the wire -------------------------------------------------------------------------------

    def signed_headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(self._clock()))
        signature = sign_with_key(
            self._key, signed_message(method, target, timestamp, body), ED25519
        )
        return {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        }

    def request(
        self,
        method: str,
        target: str,
        *,
        payload: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """One signed request; the answer whatever its status, BankUnavailable if none came."""
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        all_headers = {"Accept": "application/json", **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(self.signed_headers(method, target, body))
        return self._session.exchange(
            method, target, headers=all_headers, body=body if payload is not None else None
        )

    def _refusal(self, answer: Answer, what: str) -> BankError:
        """The error for a non-2xx answer: BankUnavailable when trying again may help."""
        return _refused(answer.status, answer.error_detail(), what)

    # --- BankGateway ----------------------------------------------------------------------------

    def submit(self, transfer: CreditTransfer) -> TransferResult:
        answer = self.request(
            "POST",
            "/transfers",
            payload=_transfer_request(transfer),
            headers={"Idempotency-Key": transfer.payout_id},
        )
        if answer.status not in (200, 201):
            raise self._refusal(answer, f"payout {transfer.payout_id}")
        return _same_transfer(transfer, self._result(answer))

    def submit_many(self, transfers: Sequence[CreditTransfer]) -> list[TransferResult | BankError]:
        """Up to MAX_SUBMIT_BATCH transfers a request (POST /transfers/batch), each idempotent
        on its payout id as submit() is."""
        results: list[TransferResult | BankError] = []
        for start in range(0, len(transfers), MAX_SUBMIT_BATCH):
            chunk = transfers[start : start + MAX_SUBMIT_BATCH]
            answer = self.request(
                "POST",
                "/transfers/batch",
                payload={"transfers": [_transfer_request(transfer) for transfer in chunk]},
            )
            if answer.status != 200:
                refusal = self._refusal(answer, f"{len(chunk)} payouts")
                if isinstance(refusal, BankUnavailable):
                    refusal.answered = tuple(results)
                raise refusal
            body = answer.json()
            items = body.get("results") if isinstance(body, dict) else None
            if not isinstance(items, list) or len(items) != len(chunk):
                raise BankUnavailable("The bank's answer to a batch of payouts is malformed.")
            for transfer, item in zip(chunk, items, strict=True):
                results.append(self._batch_item(transfer, item))
        return results

    def _batch_item(self, transfer: CreditTransfer, item: Any) -> TransferResult | BankError:
        status = item.get("status") if isinstance(item, dict) else None
        if status in (200, 201):
            try:
                return _same_transfer(transfer, self._parse(item.get("transfer")))
            except BankUnavailable:
                raise
            except BankError as mismatch:  # as submit() raises it: this transfer's alone
                return mismatch
        if not isinstance(status, int):
            raise BankUnavailable(f"The bank's answer for payout {transfer.payout_id} is unknown.")
        detail = item.get("error") if isinstance(item.get("error"), dict) else {}
        refusal = _refused(status, detail, f"payout {transfer.payout_id}")
        if isinstance(refusal, BankUnavailable):
            raise refusal
        return refusal

    def status(self, *, payout_id: str) -> TransferResult | None:
        answer = self.request("GET", f"/transfers/{quote(payout_id, safe='')}")
        # Only the bank's own "never seen" answer means None: a 404 from anything else (a wrong
        # URL, a proxy) must not read as "safe to submit".
        if answer.status == 404 and answer.error_detail().get("code") == "unknown_transfer":
            return None
        if answer.status != 200:
            raise self._refusal(answer, f"the status of payout {payout_id}")
        result = self._result(answer)
        if result.payout_id != payout_id:
            raise BankError(f"The bank answered payout {payout_id} with another transfer.")
        return result

    def handle_callback(self, *, headers: Mapping[str, str], body: bytes) -> BankCallback:
        callback_id, payload = self._verified(headers, body)
        if payload.get("type") == _BATCH_EVENT:
            raise InvalidBankCallback("A batch of callbacks: read it with handle_callbacks.")
        return _callback(callback_id, payload)

    def handle_callbacks(
        self, *, headers: Mapping[str, str], body: bytes
    ) -> tuple[BankCallback, ...]:
        """One callback, or a batch: {"type": "batch", "data": {"callbacks": [{"id": .., "type":
        "transfer.<status>", "timestamp": .., "data": {..}}, ..]}}, signed as one request; each
        callback in it keeps its own id (a duplicate, alone or in another batch, has the same)."""
        callback_id, payload = self._verified(headers, body)
        if payload.get("type") != _BATCH_EVENT:
            return (_callback(callback_id, payload),)
        items = payload["data"].get("callbacks")
        if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH_CALLBACKS:
            raise InvalidBankCallback(
                f"A batch holds 1 to {MAX_BATCH_CALLBACKS} callbacks in data.callbacks."
            )
        callbacks = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
                raise InvalidBankCallback("A callback of the batch has no data.")
            item_id = item.get("id")
            if not isinstance(item_id, str) or not 0 < len(item_id) <= MAX_CALLBACK_ID_LENGTH:
                raise InvalidBankCallback("A callback of the batch has no valid id.")
            if item.get("type") not in _TRANSFER_EVENTS:
                raise InvalidBankCallback("A batch carries transfer callbacks only.")
            callbacks.append(_callback(item_id, item))
        return tuple(callbacks)

    def _verified(self, headers: Mapping[str, str], body: bytes) -> tuple[str, dict]:
        """(webhook-id, payload) of a request whose signature and timestamp verify."""
        lowered = {str(name).lower(): str(value) for name, value in headers.items()}
        try:
            # Signature and timestamp (5 minutes either way) before anything in the body is read.
            self._webhook.verify(body, lowered, json_parse=False)
            payload = json.loads(body)
        except (WebhookVerificationError, ValueError, TypeError, binascii.Error) as exc:
            raise InvalidBankCallback(f"The bank callback does not verify: {exc}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise InvalidBankCallback("The bank callback has no data.")
        callback_id = lowered["webhook-id"]
        if not 0 < len(callback_id) <= MAX_CALLBACK_ID_LENGTH:
            raise InvalidBankCallback("The bank callback's id is empty or too long.")
        return callback_id, payload

    def statement(self, *, day: dt.date) -> bytes:
        answer = self.request("GET", f"/statements/camt053?{urlencode({'date': day.isoformat()})}")
        if answer.status != 200:
            raise self._refusal(answer, f"the statement for {day.isoformat()}")
        return answer.body

    # --- beyond the interface: what the drill and the demo read --------------------------------

    def transfers(
        self, *, status: str | None = None, page_size: int = 500
    ) -> Iterator[TransferResult]:
        """Every transfer the bank holds (its own records), in payout-id order."""
        after = None
        for _ in range(_MAX_LIST_PAGES):
            query = {"limit": page_size, **({"status": status} if status else {})}
            if after:
                query["after"] = after
            answer = self.request("GET", f"/transfers?{urlencode(query)}")
            if answer.status != 200:
                raise self._refusal(answer, "the list of transfers")
            page = answer.json()
            for item in page.get("results", []):
                yield self._parse(item)
            after = page.get("next_after")
            if not after:
                return
        raise BankError("The bank's list of transfers did not end.")

    def platform_accounts(self) -> list[dict[str, Any]]:
        answer = self.request("GET", "/platform/accounts")
        if answer.status != 200:
            raise self._refusal(answer, "the platform's accounts")
        return list(answer.json().get("results", []))

    def _result(self, answer: Answer) -> TransferResult:
        return self._parse(answer.json())

    @staticmethod
    def _parse(data: Any) -> TransferResult:
        try:
            return transfer_result(data)
        except ValueError as exc:
            raise BankUnavailable(f"The bank's answer is not a transfer: {exc}") from None


def _callback(callback_id: str, payload: dict) -> BankCallback:
    """What one verified callback (its id and payload) reports."""
    event_type = payload.get("type")
    try:
        occurred_at = dt.datetime.fromisoformat(_text(payload.get("timestamp")))
    except ValueError:
        raise InvalidBankCallback("The bank callback's timestamp is malformed.") from None
    data = payload["data"]
    if event_type in _TRANSFER_EVENTS:
        try:
            transfer = transfer_result(data)
        except ValueError as exc:
            raise InvalidBankCallback(f"The bank callback's transfer is malformed: {exc}") from None
        if transfer.status != _TRANSFER_EVENTS[event_type]:
            raise InvalidBankCallback("The bank callback's type and status disagree.")
        if transfer.occurred_at is None:  # the callback's own time is the change's
            transfer = replace(transfer, occurred_at=_bank_time(payload.get("timestamp")))
        return BankCallback(
            callback_id=callback_id,
            kind="transfer",
            occurred_at=occurred_at,
            transfer=transfer,
            raw=payload,
        )
    if event_type == _INCOMING_EVENT:
        amount = data.get("amount_minor")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise InvalidBankCallback("The incoming credit's amount is malformed.")
        return BankCallback(
            callback_id=callback_id,
            kind="incoming",
            occurred_at=occurred_at,
            reference=_text(data.get("reference")),
            amount_minor=amount,
            currency=_text(data.get("currency")),
            debtor_name=_text(data.get("debtor_name")),
            bank_reference=_text(data.get("bank_reference")),
            raw=payload,
        )
    raise InvalidBankCallback(f"Unknown bank callback type {event_type!r}.")
