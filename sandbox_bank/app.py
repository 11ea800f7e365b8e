"""The bank's HTTP API: a small WSGI application and its routes (docs/sandbox_bank.md).

    GET  /healthz                                   anyone
    POST /transfers, GET /transfers[/<payout_id>]   the platform (Ed25519-signed)
    POST /transfers/batch                           the platform: up to 100 transfers at once
    GET  /statements/camt053?date=YYYY-MM-DD        the platform
    GET  /platform/accounts                         the platform: its accounts and balances
    POST /accounts, GET /accounts[/<iban>], POST /accounts/<iban>/close      the operator
                    (an account by IBAN, or a US one by routing_number + account_number)
    POST /incoming                                  the operator (a buyer's transfer arrives)
    GET|POST /admin/faults, GET|POST /admin/callback-url, GET /admin/callbacks   the operator

Platform requests go through the fault knobs (latency, timeouts, 5xx); operator requests do not.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import auth
from .banking import MAX_BATCH_TRANSFERS, MAX_LIST_LIMIT, Bank
from .callbacks import CallbackDispatcher
from .camt053 import statement_xml
from .config import BankConfig
from .errors import BadRequest, BankRefusal, NotFound
from .faults import Faults
from .store import utc_now

logger = logging.getLogger("sandbox_bank")

MAX_BODY_BYTES = 1024 * 1024
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Request:
    method: str
    path: str
    target: str  # path and query as sent: what the platform signed
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BadRequest("The body is not JSON.", code="invalid_json") from None
        if not isinstance(value, dict):
            raise BadRequest("The body must be a JSON object.", code="invalid_json")
        return value

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, value: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, body, headers=list(headers))


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    return json_response(status, {"error": {"code": code, "message": message, "field": field}})


Handler = Callable[[Request], Response]
PLATFORM, OPERATOR, ANYONE = "platform", "operator", "anyone"


class SandboxBankApp:
    def __init__(
        self,
        bank: Bank,
        config: BankConfig,
        faults: Faults,
        verifier: auth.RequestVerifier,
        dispatcher: CallbackDispatcher | None = None,
    ) -> None:
        self.bank = bank
        self.config = config
        self.faults = faults
        self.verifier = verifier
        self.dispatcher = dispatcher
        segment = r"(?P<{}>[A-Za-z0-9.\- ]{{1,64}})"
        self.routes: list[tuple[str, re.Pattern, str, Handler]] = [
            ("GET", re.compile(r"/healthz"), ANYONE, self.healthz),
            ("POST", re.compile(r"/transfers"), PLATFORM, self.submit_transfer),
            ("POST", re.compile(r"/transfers/batch"), PLATFORM, self.submit_transfers),
            ("GET", re.compile(r"/transfers"), PLATFORM, self.list_transfers),
            (
                "GET",
                re.compile(r"/transfers/" + segment.format("payout_id")),
                PLATFORM,
                self.get_transfer,
            ),
            ("GET", re.compile(r"/statements/camt053"), PLATFORM, self.camt053),
            ("GET", re.compile(r"/platform/accounts"), PLATFORM, self.platform_accounts),
            ("POST", re.compile(r"/accounts"), OPERATOR, self.open_account),
            ("GET", re.compile(r"/accounts"), OPERATOR, self.list_accounts),
            ("GET", re.compile(r"/accounts/" + segment.format("iban")), OPERATOR, self.get_account),
            (
                "POST",
                re.compile(r"/accounts/" + segment.format("iban") + r"/close"),
                OPERATOR,
                self.close_account,
            ),
            ("POST", re.compile(r"/incoming"), OPERATOR, self.incoming),
            ("GET", re.compile(r"/admin/faults"), OPERATOR, self.get_faults),
            ("POST", re.compile(r"/admin/faults"), OPERATOR, self.set_faults),
            ("GET", re.compile(r"/admin/callback-url"), OPERATOR, self.get_callback_url),
            ("POST", re.compile(r"/admin/callback-url"), OPERATOR, self.set_callback_url),
            ("GET", re.compile(r"/admin/callbacks"), OPERATOR, self.list_callbacks),
        ]

    # --- WSGI -----------------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        try:
            response = self.handle(_request(environ))
        except BankRefusal as refusal:
            response = json_response(refusal.status, refusal.body())
        except Exception:
            logger.exception("sandbox bank: unexpected error")
            response = _error(500, "internal_error", "The bank failed to handle the request.")
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *response.headers,
        ]
        status_text = _STATUS_TEXT.get(response.status, "Unknown")
        start_response(f"{response.status} {status_text}", headers)
        return [response.body]

    def handle(self, request: Request) -> Response:
        allowed = []
        for method, pattern, audience, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            request.params = match.groupdict()
            if audience == PLATFORM:
                return self._platform_call(request, handler)
            if audience == OPERATOR:
                auth.check_admin_token(
                    self.config.admin_token, request.headers.get("authorization", "")
                )
            return handler(request)
        if allowed:
            return _error(405, "method_not_allowed", f"Use {' or '.join(allowed)}.")
        raise NotFound("No such endpoint.")

    def _platform_call(self, request: Request, handler: Handler) -> Response:
        knobs = self.faults.knobs
        if knobs.latency_ms:
            time.sleep(knobs.latency_ms / 1000)
        self.verifier.verify(
            method=request.method, target=request.target, headers=request.headers, body=request.body
        )
        timeout = self.faults.chance(knobs.timeout_rate)
        timeout_mode = self.faults.mode(knobs.timeout_mode) if timeout else ""
        error = not timeout and self.faults.chance(knobs.error_rate)
        error_mode = self.faults.mode(knobs.error_mode) if error else ""
        if timeout_mode == "before":
            time.sleep(knobs.hang_ms / 1000)
            return _error(504, "injected_timeout", "Timed out before handling (fault knob).")
        if error_mode == "before":
            return _error(503, "injected_error", "Failed before handling (fault knob).")
        response = handler(request)
        if timeout_mode == "after":
            time.sleep(knobs.hang_ms / 1000)  # the work is done; the answer comes too late
        if error_mode == "after":
            return _error(500, "injected_error", "Failed after handling (fault knob).")
        return response

    # --- platform -------------------------------------------------------------------------------

    def healthz(self, request: Request) -> Response:
        return json_response(200, {"ok": True})

    def submit_transfer(self, request: Request) -> Response:
        transfer, created = self.bank.submit_transfer(
            request.json(), idempotency_key=request.headers.get("idempotency-key", "")
        )
        replay = [] if created else [("Idempotent-Replayed", "true")]
        return json_response(201 if created else 200, transfer, replay)

    def submit_transfers(self, request: Request) -> Response:
        body = request.json()
        transfers = body.get("transfers") if isinstance(body, dict) else None
        if not isinstance(transfers, list) or not 0 < len(transfers) <= MAX_BATCH_TRANSFERS:
            raise BadRequest(
                f"transfers is a list of 1 to {MAX_BATCH_TRANSFERS} credit transfers.",
                field="transfers",
            )
        return json_response(200, {"results": self.bank.submit_transfers(transfers)})

    def get_transfer(self, request: Request) -> Response:
        transfer = self.bank.transfer(request.params["payout_id"])
        if transfer is None:
            raise NotFound(
                "The bank has never received this payout.",
                code="unknown_transfer",
                field="payout_id",
            )
        return json_response(200, transfer)

    def list_transfers(self, request: Request) -> Response:
        status = request.query_value("status")
        if status not in (None, "accepted", "paid", "returned", "rejected"):
            raise BadRequest("Unknown status.", field="status")
        limit_text = request.query_value("limit") or "100"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIST_LIMIT:
            raise BadRequest(f"limit is a whole number from 1 to {MAX_LIST_LIMIT}.", field="limit")
        limit = int(limit_text)
        transfers = self.bank.list_transfers(
            status=status, after=request.query_value("after"), limit=limit
        )
        next_after = transfers[-1]["payout_id"] if len(transfers) == limit else None
        return json_response(200, {"results": transfers, "next_after": next_after})

    def camt053(self, request: Request) -> Response:
        text = request.query_value("date") or ""
        try:
            day = dt.date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
        except ValueError:
            day = None
        if day is None:
            raise BadRequest("date is YYYY-MM-DD.", code="invalid_date", field="date")
        if day > utc_now().date():
            raise BadRequest(
                "No statement for a day that has not begun.", code="invalid_date", field="date"
            )
        body = statement_xml(self.bank.statement_accounts(day), day)
        return Response(200, body, content_type="application/xml; charset=utf-8")

    def platform_accounts(self, request: Request) -> Response:
        return json_response(200, {"results": self.bank.list_accounts(platform=True)})

    # --- operator -------------------------------------------------------------------------------

    def open_account(self, request: Request) -> Response:
        account, created = self.bank.open_account(request.json())
        return json_response(201 if created else 200, account)

    def list_accounts(self, request: Request) -> Response:
        return json_response(200, {"results": self.bank.list_accounts()})

    def get_account(self, request: Request) -> Response:
        return json_response(200, self.bank.account(request.params["iban"]))

    def close_account(self, request: Request) -> Response:
        return json_response(200, self.bank.close_account(request.params["iban"]))

    def incoming(self, request: Request) -> Response:
        credit, created = self.bank.receive_incoming(
            request.json(), idempotency_key=request.headers.get("idempotency-key") or None
        )
        return json_response(201 if created else 200, credit)

    def get_faults(self, request: Request) -> Response:
        return json_response(200, self.faults.as_dict())

    def set_faults(self, request: Request) -> Response:
        self.faults.update(request.json())
        return json_response(200, self.faults.as_dict())

    def get_callback_url(self, request: Request) -> Response:
        return json_response(200, {"url": self.config.callback_url})

    def set_callback_url(self, request: Request) -> Response:
        url = request.json().get("url", "")
        parts = urlsplit(url) if isinstance(url, str) else None
        if url and (parts is None or parts.scheme not in ("http", "https") or not parts.netloc):
            raise BadRequest("The callback URL is an http(s) URL.", field="url")
        self.config.callback_url = url
        if self.dispatcher is not None:
            self.dispatcher.wake()
        return json_response(200, {"url": url})

    def list_callbacks(self, request: Request) -> Response:
        status = request.query_value("status")
        sql = (
            "SELECT id, event_type, status, attempts, deliveries, created_at, delivered_at,"
            " last_error, payload FROM callbacks"
        )
        params: tuple = ()
        if status:
            sql += " WHERE status = ?"
            params = (status,)
        rows = (
            self.bank.db.connection().execute(sql + " ORDER BY created_at, id", params).fetchall()
        )
        results = []
        for row in rows:
            item = {key: row[key] for key in row.keys() if key != "payload"}  # noqa: SIM118 - a Row iterates its values
            item["data"] = json.loads(row["payload"])["data"]
            results.append(item)
        return json_response(200, {"results": results})


def _request(environ: dict) -> Request:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "") or "/"
    query_string = environ.get("QUERY_STRING", "")
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    target = raw or (path + (f"?{query_string}" if query_string else ""))
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    length_text = environ.get("CONTENT_LENGTH") or "0"
    length = int(length_text) if length_text.isdigit() else 0
    if length > MAX_BODY_BYTES:
        raise BadRequest("The body is too large.", code="body_too_large")
    body = environ["wsgi.input"].read(length) if length else b""
    return Request(
        method=method,
        path=path,
        target=target,
        query=parse_qs(query_string, keep_blank_values=True),
        headers=headers,
        body=body,
    )
