"""One HTTP exchange with a bank: stdlib only (urllib), a timeout on every call, and the outcome
sorted into "answered" (any status) or BankUnavailable (no answer: refused, reset, timed out)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from settlement.gateways.base import BankUnavailable

MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a day's statement fits; a runaway answer does not


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            # A garbled answer tells nothing about what the bank did.
            raise BankUnavailable(
                f"The bank answered {self.status} with a body that is not JSON."
            ) from None

    def error_detail(self) -> dict[str, Any]:
        """The bank's {"error": {...}} body, or {} when it has none."""
        try:
            error = json.loads(self.body).get("error")
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            return {}
        return error if isinstance(error, dict) else {}


def exchange(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout_s: float,
) -> Answer:
    request = urllib.request.Request(  # noqa: S310 - the URL comes from settings (http/https)
        url, data=body, headers=dict(headers), method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return Answer(response.status, dict(response.headers), response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as error:  # answered, with a status other than 2xx
        with error:
            content = error.read(MAX_ANSWER_BYTES)
        return Answer(error.code, dict(error.headers or {}), content)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        # Refused, reset, timed out (TimeoutError is an OSError), or cut off mid-answer: the
        # request may or may not have been acted on.
        raise BankUnavailable(f"The bank did not answer: {type(exc).__name__}: {exc}") from exc
