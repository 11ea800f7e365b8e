"""Errors raised by the accounts services (all under core.errors.ApplicationError)."""

from core.errors import ApplicationError, NotFound, PermissionDenied


class ApiKeyInvalid(ApplicationError):
    """Invalid API key: check that the whole key was sent as `Authorization: Bearer <key>`."""

    code = "api_key_invalid"
    http_status = 401


class ApiKeyRevoked(ApplicationError):
    """This API key has been revoked: create a new one."""

    code = "api_key_revoked"
    http_status = 401


class NotASeller(PermissionDenied):
    """Only seller accounts have a seller profile and seller keys."""

    code = "not_a_seller"


class SellerKeyNotFound(NotFound):
    """No such seller key."""

    code = "seller_key_not_found"
