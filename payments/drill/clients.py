"""The careful clients: each a buyer with an API key, placing an order and paying it by card
(automatic capture), over and over until the run's time is up.

A careful client gives every operation one Idempotency-Key and sends it again, with the same body,
until it has an answer that is final: on a lost connection, a 5xx, a 429, or a 409 that says "not
yet" (idempotency_key_in_flight, payment_processing), it waits a little (backoff) and retries.
An operation still without a final answer after ANSWER_WITHIN_S is a client left without an answer.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from payments.providers import sandbox_card_processor

ANSWER_WITHIN_S = 150.0
REQUEST_TIMEOUT_S = 35.0  # beyond gunicorn's 30 s worker timeout
NOT_YET_CODES = frozenset({"idempotency_key_in_flight", "payment_processing"})
SUCCESS_CARD = sandbox_card_processor.SUCCEEDS
DECLINED_CARD = sandbox_card_processor.DECLINED
ADDRESS = {
    "name": "Drill Buyer",
    "line1": "1 Main Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


@dataclass
class Tally:
    """What every client saw, shared (under a lock) by the client threads."""

    requests: int = 0
    http_500: int = 0
    retries: int = 0
    without_answer: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    # order id -> the payment id (and status) the client was answered with
    answered: dict[str, tuple[str, str]] = field(default_factory=dict)
    wrong_answers: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, status: int | None) -> None:
        with self.lock:
            self.requests += 1
            if status is not None:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if status == 500:
                    self.http_500 += 1


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict


class CarefulClient:
    def __init__(
        self, *, base_url: str, api_key: str, product_ids: list[int], rng: random.Random
    ) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.api_key = api_key
        self.product_ids = product_ids
        self.rng = rng

    def run(self, *, until: float, tally: Tally) -> None:
        while time.monotonic() < until:
            self.buy_once(tally)

    def buy_once(self, tally: Tally) -> None:
        items = [{"product_id": self.rng.choice(self.product_ids), "quantity": 1}]
        order = self.until_final(
            "/api/v1/orders", {"items": items, "shipping_address": ADDRESS}, tally
        )
        if order is None:
            return
        if order.status != 201:
            with tally.lock:
                tally.wrong_answers.append(f"order: {order.status} {order.body}")
            return
        card = SUCCESS_CARD if self.rng.random() < 0.9 else DECLINED_CARD
        body = {
            "order": order.body["id"],
            "method": "card",
            "capture_method": "automatic",
            "card": {"number": card, "exp_month": "12", "exp_year": "2030", "cvc": "123"},
        }
        paid = self.until_final("/api/v1/payments/", body, tally)
        if paid is None:
            return
        with tally.lock:
            if paid.status == 201:
                tally.answered[order.body["id"]] = (paid.body["id"], paid.body["status"])
            else:  # a final refusal for the client's own first payment: it never learns the truth
                tally.without_answer += 1
                tally.wrong_answers.append(f"payment: {paid.status} {paid.body}")

    def until_final(self, path: str, body: dict, tally: Tally) -> Answer | None:
        key = str(uuid.UUID(int=self.rng.getrandbits(128)))
        deadline = time.monotonic() + ANSWER_WITHIN_S
        for attempt in range(10_000):
            answer = self._post(path, body, key)
            tally.saw(None if answer is None else answer.status)
            if answer is not None and not _not_final(answer):
                return answer
            if time.monotonic() > deadline:
                break
            with tally.lock:
                tally.retries += 1
            time.sleep(min(2.0, 0.05 * 2 ** min(attempt, 6)) * (0.5 + self.rng.random()))
        with tally.lock:
            tally.without_answer += 1
        return None

    def _post(self, path: str, body: dict, key: str) -> Answer | None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            connection.request(
                "POST",
                path,
                body=json.dumps(body),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self.api_key}",
                    "Idempotency-Key": key,
                },
            )
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            return None  # no answer (a killed gunicorn worker, a reset): send it again
        finally:
            connection.close()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        return Answer(response.status, parsed if isinstance(parsed, dict) else {"body": parsed})


def _not_final(answer: Answer) -> bool:
    if answer.status >= 500 or answer.status == 429:
        return True
    if answer.status == 409:
        error = answer.body.get("error") or {}
        return error.get("code") in NOT_YET_CODES
    return False
