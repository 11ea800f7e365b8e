"""The one error shape of the API, for every failure:

    {"error": {"code": "not_found", "message": "No such order.", "field": null}}

`code` is stable snake_case, `message` is for a person, `field` names the input at fault (or null).
Validation errors (code "invalid") also carry "details": every field error as
{"field", "code", "message"}; the first of them gives the top-level message and field. Domain errors
(core.errors.ApplicationError) keep their own code, message, field and http_status, and their
`extra` dict (if any) under "extra".

DRF calls `api_exception_handler` for exceptions raised in API views; `error_response` builds the same
shape outside DRF (middleware, Django's 404/500 handlers for /api/ paths).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from core.errors import ApplicationError, TryAgainLater
from core.logging import ERROR_REASON_ATTRIBUTE

# Set on a response that means "not yet" (TryAgainLater): core.api.idempotency does not keep it,
# so a retry with the same Idempotency-Key acts again instead of replaying the refusal.
NOT_FINAL_ATTRIBUTE = "idempotency_not_final"

# Sent with 401 when the view's first authenticator names no scheme of its own.
DEFAULT_WWW_AUTHENTICATE = 'Bearer realm="api"'


def error_payload(
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "field": field}
    if details is not None:
        error["details"] = details
    if extra:
        error["extra"] = extra
    return {"error": error}


def error_response(
    code: str,
    message: str,
    *,
    http_status: int,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    """The error shape as a plain Django response, for code that runs outside DRF views."""
    return JsonResponse(
        error_payload(code, message, field=field), status=http_status, headers=headers
    )


# A request whose database connection died (terminated backend, failover, network) or hit a
# transient database failure: the client should retry, with the same Idempotency-Key, which then
# finds what the first attempt did. 503 + Retry-After, never a 500.
DATABASE_UNAVAILABLE_CODE = "service_unavailable"
DATABASE_UNAVAILABLE_MESSAGE = (
    "The database connection was lost while handling this request. Retry it shortly with the same "
    "Idempotency-Key: the retry finds out what this attempt did."
)
DATABASE_RETRY_AFTER_S = 1


def is_database_unavailable(exc: BaseException | None) -> bool:
    """A lost connection or a transient database failure (Django's OperationalError and
    InterfaceError: terminated backends, closed connections, failovers, deadlocks)."""
    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable_response() -> JsonResponse:
    response = error_response(
        DATABASE_UNAVAILABLE_CODE,
        DATABASE_UNAVAILABLE_MESSAGE,
        http_status=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )
    setattr(response, NOT_FINAL_ATTRIBUTE, True)
    return response


def _join(path: str | None, key: Any) -> str | None:
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        return f"{path or ''}[{key}]"
    if key == api_settings.NON_FIELD_ERRORS_KEY:
        return path
    return f"{path}.{key}" if path else str(key)


def flatten_errors(detail: Any, path: str | None = None) -> Iterator[dict[str, Any]]:
    """Every leaf of a DRF error tree as {"field", "code", "message"}, in the serializer's order.

    Nested serializers give dotted paths ("address.city"), lists give indexes ("items[0].amount");
    non-field errors give the enclosing path (None at the top).
    """
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from flatten_errors(value, _join(path, key))
    elif isinstance(detail, list | tuple):
        for index, item in enumerate(detail):
            if isinstance(item, dict | list | tuple):
                # A list serializer: one entry (maybe empty) per input item.
                yield from flatten_errors(item, _join(path, index))
            else:
                yield from flatten_errors(item, path)
    else:
        code = getattr(detail, "code", None) or "invalid"
        yield {"field": path, "code": str(code), "message": str(detail)}


def _validation_payload(detail: Any) -> dict[str, Any]:
    details = list(flatten_errors(detail))
    if not details:
        details = [{"field": None, "code": "invalid", "message": "The input is not valid."}]
    first = details[0]
    return error_payload("invalid", first["message"], field=first["field"], details=details)


def _django_validation_detail(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {
            field: [exceptions.ErrorDetail(e.messages[0], e.code or "invalid") for e in errors]
            for field, errors in exc.error_dict.items()
        }
    return [exceptions.ErrorDetail(e.messages[0], e.code or "invalid") for e in exc.error_list]


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def _message_of(exc: exceptions.APIException) -> str:
    if isinstance(exc.detail, list | dict):
        leaves = list(flatten_errors(exc.detail))
        return leaves[0]["message"] if leaves else str(exc.default_detail)
    return str(exc.detail)


def _note_reason(context: dict[str, Any], payload: dict[str, Any]) -> None:
    """The error's code and message on the HttpRequest, for its one log line (core.logging)."""
    request = getattr(context.get("request"), "_request", None)
    if request is not None:
        error = payload["error"]
        setattr(request, ERROR_REASON_ATTRIBUTE, f"{error['code']}: {error['message']}")


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every known failure in the one shape; anything else stays a 500."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))

    if isinstance(exc, ApplicationError):
        set_rollback()
        payload = error_payload(exc.code, exc.message, field=exc.field, extra=exc.extra)
        _note_reason(context, payload)
        response = Response(payload, status=exc.http_status)
        if isinstance(exc, TryAgainLater):
            response["Retry-After"] = str(exc.retry_after_s)
            setattr(response, NOT_FINAL_ATTRIBUTE, True)
        return response

    if is_database_unavailable(exc):
        set_rollback()
        response = Response(
            error_payload(DATABASE_UNAVAILABLE_CODE, DATABASE_UNAVAILABLE_MESSAGE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )
        setattr(response, NOT_FINAL_ATTRIBUTE, True)
        return response

    if not isinstance(exc, exceptions.APIException):
        return None

    headers: dict[str, str] = {}
    http_status = exc.status_code
    if isinstance(exc, exceptions.ValidationError):
        payload = _validation_payload(exc.detail)
    else:
        payload = error_payload(_code_of(exc), _message_of(exc))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # DRF turns these into 403 when the first authenticator names no scheme; a missing or bad
        # credential is a 401 here whatever the authenticators are.
        http_status = status.HTTP_401_UNAUTHORIZED
        headers["WWW-Authenticate"] = getattr(exc, "auth_header", None) or DEFAULT_WWW_AUTHENTICATE
    if isinstance(exc, exceptions.Throttled):
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait or 1)))
    _note_reason(context, payload)
    set_rollback()
    return Response(payload, status=http_status, headers=headers)
