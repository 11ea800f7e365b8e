"""API-key authentication for DRF: `Authorization: Bearer ch_live_..._...`.

No Authorization header (or another scheme): not handled here, so session authentication may
try. A Bearer token that is unknown, malformed or revoked: 401 with a message saying which.
On success request.user is the key's owner and request.auth the ApiKey row.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.errors import ApiKeyInvalid, ApiKeyRevoked
from accounts.services import api_key_authenticate


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: send `Authorization: Bearer <api key>`.",
                code=ApiKeyInvalid.code,
            )
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(
                ApiKeyInvalid().message, code=ApiKeyInvalid.code
            ) from exc
        try:
            api_key = api_key_authenticate(raw_key)
        except (ApiKeyInvalid, ApiKeyRevoked) as exc:
            raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from exc
        if not api_key.owner.is_active:
            raise exceptions.AuthenticationFailed(
                "The account this API key belongs to is disabled.", code="account_disabled"
            )
        return api_key.owner, api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when authentication is missing or fails.
        return 'Bearer realm="api"'
