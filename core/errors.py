"""The one root of every domain error. Services raise these; the API and pages translate them.

`code` is stable and machine-readable, `message` is for a person, `field` names the input at fault.
`http_status` is what the API answers with when the error reaches it.
"""

from __future__ import annotations


class ApplicationError(Exception):
    code = "application_error"
    http_status = 400

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        field: str | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        if code:
            self.code = code
        self.field = field
        self.extra = extra or {}


class ValidationError(ApplicationError):
    """The input is not valid."""

    code = "invalid"
    http_status = 400


class NotFound(ApplicationError):
    """No such object."""

    code = "not_found"
    http_status = 404


class PermissionDenied(ApplicationError):
    """You may not do this."""

    code = "permission_denied"
    http_status = 403


class Conflict(ApplicationError):
    """The object is not in a state that allows this."""

    code = "conflict"
    http_status = 409


class TryAgainLater(Conflict):
    """Not yet: the same request may succeed shortly (something it waits on is still running).

    Never kept as a final answer by Idempotency-Key (a retry with the same key acts again), and the
    API says when to come back with Retry-After."""

    code = "try_again_later"
    retry_after_s = 5


class IntegrityViolation(ApplicationError):
    """An invariant would be broken; nothing was written."""

    code = "integrity_violation"
    http_status = 422
