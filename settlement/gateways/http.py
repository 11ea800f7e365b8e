"""HTTP exchanges with a bank: stdlib only (urllib, http.client), a timeout on every call, and the
outcome sorted into "answered" (any status) or BankUnavailable (no answer: refused, reset, timed
out). `exchange` is one request on a connection of its own; `Session` keeps a connection alive
per thread for a client that sends many."""

from __future__ import annotations

import http.client
import json
import os
import threading
import urllib.error
import urllib.parse
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


# A kept-alive connection the server closed while idle fails on its next request before any
# answer; the request is then sent once more on a fresh connection. Only for requests that are
# safe to repeat: every bank request is (reads, and submits under the payout's idempotency key).
_STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Session:
    """Keep-alive HTTP/1.1 connections to one origin, one per thread, for a client that sends
    many requests (a worker submitting a few payouts): one connection instead of one per request.
    Answers and failures are sorted as `exchange` sorts them."""

    def __init__(self, base_url: str, *, timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self._local = threading.local()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            return connection, True
        # (A connection made before a fork is the parent's: a child opens its own.)
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = kind(self._host, self._port, timeout=self.timeout_s)
        self._local.connection, self._local.pid = connection, os.getpid()
        return connection, False

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def exchange(
        self, method: str, target: str, *, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        while True:
            connection, reused = self._connection()
            try:
                connection.request(method, self._prefix + target, body=body, headers=dict(headers))
                response = connection.getresponse()
                content = response.read(MAX_ANSWER_BYTES + 1)
            except _STALE_CONNECTION as exc:
                self.close()
                if reused:
                    continue  # the server had closed it while idle: once more, on a new one
                raise BankUnavailable(
                    f"The bank did not answer: {type(exc).__name__}: {exc}"
                ) from exc
            except (http.client.HTTPException, OSError, ValueError) as exc:
                self.close()
                raise BankUnavailable(
                    f"The bank did not answer: {type(exc).__name__}: {exc}"
                ) from exc
            if response.will_close or len(content) > MAX_ANSWER_BYTES:
                self.close()  # the server ends it, or an answer too long was cut off
            return Answer(response.status, dict(response.headers), content[:MAX_ANSWER_BYTES])
