"""The bank's refusals: each one HTTP status, one stable code and a message, in one JSON shape
`{"error": {"code", "message", "field"}}` (the shape the platform's own API answers with)."""

from __future__ import annotations


class BankRefusal(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class BadRequest(BankRefusal):
    status = 422
    code = "invalid"


class Unauthorized(BankRefusal):
    status = 401
    code = "unauthorized"


class Forbidden(BankRefusal):
    status = 403
    code = "forbidden"


class NotFound(BankRefusal):
    status = 404
    code = "not_found"


class Conflict(BankRefusal):
    status = 409
    code = "conflict"
