"""Idempotency-Key for the API, with Stripe's semantics, for every endpoint at once (a middleware).

Decisions:
- Optional, as at Stripe: a POST/PUT/PATCH/DELETE under /api/ without the header runs as usual; with
  it, it is enforced. Services stay idempotent on their own business keys as well.
- Scope: the caller, the method and the path. The middleware runs before DRF authenticates, so the
  caller is taken from what the request carries: the Authorization header (an HMAC of it under
  SECRET_KEY: the API key itself is never stored) when there is one, as DRF tries the API key
  first; else the session's user; else "anonymous" (keys must then be random: use UUIDs).
  Two API keys of one owner therefore have separate key spaces.
- Fingerprint: SHA-256 of method, full path (with query) and body. Same key, other fingerprint:
  422 idempotency_key_reused. First request still running: 409 idempotency_key_in_flight.
- Kept as final: every answer below 500 except 401, 403 and 429 (the request never got to act:
  wrong credentials, not allowed, rate-limited) and "not yet" answers (core.errors.TryAgainLater:
  409 with Retry-After, e.g. refund_in_progress, capture_pending; Stripe's rule). Those and 5xx
  delete the claim so the client may retry with the same key. Status, body and Content-Type/Location are replayed with
  `Idempotent-Replayed: true`.
- Keys live IDEMPOTENCY_KEY_TTL_S (24 h); core.tasks.delete_expired_idempotency_keys (beat, hourly)
  deletes older ones, and an expired key found on lookup counts as unused.
- A claim whose request died (killed process, terminated database connection) is taken over by the
  next retry at once: the claim holds a PostgreSQL session advisory lock, gone with its connection.
- A database failure while claiming answers 503 with Retry-After (core.api.errors), like one in
  the view: the key is released (or, its connection dead, left to be taken over) for the retry.
- The claimed request carries `request.idempotency_scope` (the key's scope digest): a service can
  record it with what it creates, to answer a retry with the true outcome (payments do).
- A response flagged with WITHHOLD_ATTRIBUTE (it shows a secret once) is kept as a 409
  `idempotent_replay_withheld` instead: the secret is never stored in the clear for replay.
- Malformed key (empty, over 255 characters, anything but printable ASCII): 400
  invalid_idempotency_key, field "Idempotency-Key".
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac

from core.api.errors import (
    NOT_FINAL_ATTRIBUTE,
    database_unavailable_response,
    error_response,
    is_database_unavailable,
)
from core.idempotency import (
    Claimed,
    InFlight,
    Replay,
    Reused,
    idempotency_key_claim,
    idempotency_key_complete,
    idempotency_key_release,
    request_fingerprint,
)

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
_VALID_KEY = re.compile(r"[\x20-\x7e]{1," + str(MAX_KEY_LENGTH) + "}")
# Answers that mean the request did not get to act: the key is released, not kept.
RELEASED_STATUSES = frozenset({401, 403, 429})
REPLAYED_RESPONSE_HEADERS = ("Content-Type", "Location")
# A view sets this attribute on a response that shows a secret once (e.g. a webhook signing
# secret): the answer is not stored for replay, a retry with the key gets WITHHELD_PAYLOAD (409).
WITHHOLD_ATTRIBUTE = "idempotency_withhold_body"
WITHHELD_PAYLOAD = {
    "error": {
        "code": "idempotent_replay_withheld",
        "message": "This request already ran. Its answer held a secret shown only once, which is "
        "not kept for replay.",
        "field": None,
    }
}


def request_principal(request: HttpRequest) -> str:
    authorization = request.headers.get("Authorization")
    if authorization:
        digest = salted_hmac(
            "clearhouse.idempotency.principal", authorization, algorithm="sha256"
        ).hexdigest()
        return f"auth:{digest[:40]}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "anonymous"


def _applies(request: HttpRequest) -> bool:
    return request.method in IDEMPOTENT_METHODS and any(
        request.path_info.startswith(prefix) for prefix in settings.IDEMPOTENCY_PATH_PREFIXES
    )


def _replay(status: int, body: bytes, headers: dict[str, str]) -> HttpResponse:
    response = HttpResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _applies(request):
            return self.get_response(request)
        key = request.headers.get(HEADER)
        if key is None:
            return self.get_response(request)
        if not _VALID_KEY.fullmatch(key) or not key.strip():
            return error_response(
                "invalid_idempotency_key",
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
                "(a random UUID is best).",
                http_status=400,
                field=HEADER,
            )

        try:
            outcome = idempotency_key_claim(
                key=key,
                principal=request_principal(request),
                method=request.method,
                path=request.path_info,
                fingerprint=request_fingerprint(
                    method=request.method, full_path=request.get_full_path(), body=request.body
                ),
            )
        except DatabaseError as exc:
            if not is_database_unavailable(exc):
                raise
            logger.warning("idempotency claim failed: the database connection was lost")
            return database_unavailable_response()
        if isinstance(outcome, Replay):
            record = outcome.record
            return _replay(
                record.response_status, bytes(record.response_body), record.response_headers
            )
        if isinstance(outcome, Reused):
            return error_response(
                "idempotency_key_reused",
                f"This {HEADER} was used with a different request; use a new key for a new request.",
                http_status=422,
                field=HEADER,
            )
        if isinstance(outcome, InFlight):
            return error_response(
                "idempotency_key_in_flight",
                f"A request with this {HEADER} is still being processed; retry shortly.",
                http_status=409,
                field=HEADER,
                headers={"Retry-After": "1"},
            )
        assert isinstance(outcome, Claimed)
        record = outcome.record
        request.idempotency_scope = record.scope_digest

        try:
            response = self.get_response(request)
        except BaseException:
            self._release(record)
            raise
        if (
            response.status_code >= 500
            or response.status_code in RELEASED_STATUSES
            or getattr(response, NOT_FINAL_ATTRIBUTE, False)
        ):
            self._release(record)
        elif response.streaming:
            logger.warning(
                "streaming response to %s %s is not kept for replay", request.method, request.path
            )
            self._release(record)
        else:
            headers = {
                name: response[name]
                for name in REPLAYED_RESPONSE_HEADERS
                if response.has_header(name)
            }
            status, body = response.status_code, response.content
            if getattr(response, WITHHOLD_ATTRIBUTE, False):
                # The answer carried a secret shown once: keep that the request ran, not the secret.
                status, body = 409, json.dumps(WITHHELD_PAYLOAD).encode()
                headers = {"Content-Type": "application/json"}
            try:
                stored = idempotency_key_complete(
                    record=record,
                    status=status,
                    body=body,
                    headers=headers,
                )
            except DatabaseError:
                # The request has acted: its client gets the real answer, not a 500 inviting a retry.
                logger.exception("could not store the answer for idempotency key %s", record.pk)
                stored = True
            if not stored:
                logger.warning(
                    "idempotency key %s was taken over before its answer was stored", record.pk
                )
        return response

    @staticmethod
    def _release(record) -> None:
        for attempt in (1, 2):
            try:
                idempotency_key_release(record=record)
                return
            except DatabaseError:
                if attempt == 1 and not connection.in_atomic_block:
                    # Most often the request's connection died: once more on a fresh one.
                    connection.close()
                    continue
                # Left in flight: its lock died with the connection, so a retry takes it over.
                logger.warning("could not release idempotency key %s", record.pk, exc_info=True)
