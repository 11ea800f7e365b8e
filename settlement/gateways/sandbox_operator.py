"""The sandbox bank's operator side: what no real bank lets the platform do, and what the demo,
the tests and the fault drill need: open and close customers' accounts, make a buyer's transfer
arrive, turn the fault knobs, point the callbacks somewhere. Authenticated by the bank's
operator token (SANDBOX_BANK_ADMIN_TOKEN), not by the platform's signature."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from settlement.gateways.base import BankError, BankUnavailable
from settlement.gateways.http import Answer, exchange


class SandboxBankOperator:
    def __init__(self, *, base_url: str, admin_token: str, timeout_s: float = 10.0) -> None:
        if not admin_token:
            raise ImproperlyConfigured("SANDBOX_BANK_ADMIN_TOKEN is not set")
        self.base_url = base_url.rstrip("/")
        self._token = admin_token
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls) -> SandboxBankOperator:
        return cls(
            base_url=settings.SANDBOX_BANK_URL,
            admin_token=settings.SANDBOX_BANK_ADMIN_TOKEN,
            timeout_s=float(settings.SANDBOX_BANK_TIMEOUT_S),
        )

    def _call(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        idempotency_key: str = "",
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        answer = exchange(
            method,
            self.base_url + path,
            headers=headers,
            body=None if payload is None else json.dumps(payload).encode(),
            timeout_s=self.timeout_s,
        )
        if 200 <= answer.status < 300:
            return answer.json()
        raise _refusal(answer, f"{method} {path}")

    # accounts
    def open_account(
        self,
        *,
        holder_name: str,
        currency: str,
        iban: str = "",
        routing_number: str = "",
        account_number: str = "",
        bic: str = "",
        opening_balance_minor: int = 0,
        returns_credits: bool = False,
    ) -> dict[str, Any]:
        """Open (or find, if it is the same) a customer's account at the bank: by IBAN, or a US
        account by routing and account number."""
        identity = (
            {"iban": iban}
            if iban
            else {"routing_number": routing_number, "account_number": account_number}
        )
        return self._call(
            "POST",
            "/accounts",
            {
                **identity,
                "holder_name": holder_name,
                "currency": currency,
                "bic": bic,
                "opening_balance_minor": opening_balance_minor,
                "returns_credits": returns_credits,
            },
        )

    def account(self, iban: str) -> dict[str, Any]:
        return self._call("GET", f"/accounts/{quote(iban, safe='')}")

    def accounts(self) -> list[dict[str, Any]]:
        return self._call("GET", "/accounts")["results"]

    def close_account(self, iban: str) -> dict[str, Any]:
        return self._call("POST", f"/accounts/{quote(iban, safe='')}/close", {})

    # a buyer's bank transfer reaching the platform's account
    def incoming(
        self,
        *,
        reference: str,
        amount_minor: int,
        currency: str,
        debtor_name: str,
        debtor_iban: str = "",
        idempotency_key: str = "",
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            "/incoming",
            {
                "reference": reference,
                "amount_minor": amount_minor,
                "currency": currency,
                "debtor_name": debtor_name,
                "debtor_iban": debtor_iban,
            },
            idempotency_key=idempotency_key,
        )

    # knobs and callbacks
    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/admin/faults")

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        return self._call("POST", "/admin/faults", knobs)

    def callback_url(self) -> str:
        return self._call("GET", "/admin/callback-url")["url"]

    def set_callback_url(self, url: str) -> str:
        return self._call("POST", "/admin/callback-url", {"url": url})["url"]

    def callbacks(self, *, status: str = "") -> list[dict[str, Any]]:
        """The bank's callback outbox: each callback's type, status, attempts and data."""
        return self._call("GET", "/admin/callbacks" + (f"?status={status}" if status else ""))[
            "results"
        ]


def _refusal(answer: Answer, what: str) -> BankError:
    detail = answer.error_detail()
    extra = {
        "bank_code": detail.get("code") or f"http_{answer.status}",
        "http_status": answer.status,
    }
    if answer.status >= 500:
        return BankUnavailable(f"The sandbox bank failed {what} ({answer.status}).", extra=extra)
    return BankError(
        f"The sandbox bank refused {what}: {detail.get('message') or answer.status}",
        field=detail.get("field") or None,
        extra=extra,
    )
