"""Callbacks to the platform: an outbox in the bank's database and the threads that empty it.

A status change and its callback are written in one transaction (`enqueue`), so no change goes
untold and nothing is told that did not happen. Delivery threads POST each callback in the
Standard Webhooks format (headers webhook-id, webhook-timestamp, webhook-signature: HMAC-SHA256
over "id.timestamp.body" with the shared secret; a fresh timestamp at each attempt, the same id),
retrying with exponential backoff and jitter until the platform answers 2xx, up to
`callback_max_attempts`. The fault knobs may drop a callback (never sent) or send it twice.

Transfer callbacks that are due together on their first attempt go out as one request, up to
`callback_batch` of them: {"type": "batch", "data": {"callbacks": [{"id", "type", "timestamp",
"data"}, ...]}}, signed as one message with an id of its own; each callback keeps its own id, by
which the platform knows a duplicate. A retry, a duplicate copy and an incoming-credit callback go
alone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from standardwebhooks.webhooks import Webhook

from .config import BankConfig
from .faults import Faults
from .store import Database, iso, utc_now

logger = logging.getLogger("sandbox_bank.callbacks")

TRANSFER_EVENTS = ("transfer.paid", "transfer.rejected", "transfer.returned")
INCOMING_EVENT = "incoming.credited"
# A duplicate arrives this long after the first copy: sometimes after the next status change.
_DUPLICATE_DELAY_S = (0.05, 0.5)
_IDLE_WAIT_S = 0.5
# Timing jitter has its own generator: it must not shift the seeded fault decisions.
_JITTER = random.Random()  # noqa: S311


def enqueue(
    connection: sqlite3.Connection, faults: Faults, *, event_type: str, data: dict[str, Any]
) -> str:
    """Write one callback into the outbox (inside the caller's transaction); its id."""
    now = utc_now()
    callback_id = f"msg_{uuid.uuid4().hex}"
    payload = {"type": event_type, "timestamp": iso(now), "data": data}
    knobs = faults.knobs
    dropped = faults.chance(knobs.drop_callbacks_rate)
    copies = 2 if faults.chance(knobs.duplicate_callbacks_rate) else 1
    connection.execute(
        "INSERT INTO callbacks (id, event_type, payload, status, copies_left, next_attempt,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            callback_id,
            event_type,
            json.dumps(payload, separators=(",", ":"), sort_keys=True),
            "dropped" if dropped else "pending",
            copies,
            now.timestamp(),
            iso(now),
        ),
    )
    return callback_id


def signed_headers(secret: str, callback_id: str, body: str, *, at: dt.datetime) -> dict[str, str]:
    signature = Webhook(secret).sign(callback_id, at, body)
    return {
        "webhook-id": callback_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


class CallbackDispatcher:
    def __init__(self, db: Database, config: BankConfig, faults: Faults) -> None:
        self.db = db
        self.config = config
        self.faults = faults
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for number in range(self.config.callback_workers):
            thread = threading.Thread(
                target=self._run, name=f"sandbox-bank-callbacks-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=self.config.callback_timeout_s + 1)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered_something = self.deliver_one()
            except Exception:  # a delivery thread must outlive any one bad row
                logger.exception("callback delivery failed")
                delivered_something = False
            if not delivered_something:
                self._wake.wait(self._idle_wait_s())
                self._wake.clear()
        self.db.close()

    def _idle_wait_s(self) -> float:
        if not self.config.callback_url:
            return _IDLE_WAIT_S
        row = (
            self.db.connection()
            .execute("SELECT MIN(next_attempt) FROM callbacks WHERE status = 'pending'")
            .fetchone()
        )
        if row[0] is None:
            return _IDLE_WAIT_S
        return min(_IDLE_WAIT_S, max(0.005, row[0] - time.time()))

    def _claim(self) -> list[sqlite3.Row]:
        """The callback due first, with the first attempts of transfer callbacks due with it
        when it is one (up to callback_batch); leased, so that no other thread sends them."""
        now = time.time()
        lease_s = self.config.callback_timeout_s + 5
        with self.db.write() as connection:
            rows = connection.execute(
                "SELECT * FROM callbacks WHERE status = 'pending' AND next_attempt <= ?"
                " ORDER BY next_attempt LIMIT ?",
                (now, self.config.callback_batch),
            ).fetchall()
            if rows and _batchable(rows[0]):
                rows = [row for row in rows if _batchable(row)]
            else:
                rows = rows[:1]
            connection.executemany(
                "UPDATE callbacks SET next_attempt = ? WHERE id = ?",
                [(now + lease_s, row["id"]) for row in rows],
            )
        return rows

    def deliver_one(self) -> bool:
        """Send the callback that is due first (with those that go with it), if any and if a URL
        is set; True if one was tried."""
        url = self.config.callback_url
        if not url:
            return False
        rows = self._claim()
        if not rows:
            return False
        if len(rows) == 1:
            error = self._post(url, rows[0]["id"], rows[0]["payload"])
        else:
            error = self._post(url, f"msg_{uuid.uuid4().hex}", _batch_body(rows))
        self._record(rows, error)
        return True

    def _post(self, url: str, callback_id: str, body: str) -> str:
        """'' when the platform answered 2xx, else what went wrong."""
        headers = signed_headers(self.config.webhook_secret, callback_id, body, at=utc_now())
        headers.update({"content-type": "application/json", "user-agent": "sandbox-bank/1"})
        request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked when it is set
            url, data=body.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.config.callback_timeout_s) as answer:  # noqa: S310
                answer.read(65536)
                return "" if 200 <= answer.status < 300 else f"HTTP {answer.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            return f"{type(exc).__name__}: {exc}"[:500]

    def _record(self, rows: list[sqlite3.Row], error: str) -> None:
        with self.db.write() as connection:
            for row in rows:
                self._record_one(connection, row, error)

    def _record_one(self, connection: sqlite3.Connection, row: sqlite3.Row, error: str) -> None:
        now = time.time()
        attempts = row["attempts"] + 1
        if not error and row["copies_left"] > 1:
            connection.execute(
                "UPDATE callbacks SET attempts = ?, deliveries = deliveries + 1,"
                " copies_left = copies_left - 1, next_attempt = ?, last_error = '' WHERE id = ?",
                (attempts, now + _JITTER.uniform(*_DUPLICATE_DELAY_S), row["id"]),
            )
        elif not error:
            connection.execute(
                "UPDATE callbacks SET attempts = ?, deliveries = deliveries + 1,"
                " copies_left = 0, status = 'delivered', delivered_at = ?, last_error = ''"
                " WHERE id = ?",
                (attempts, iso(utc_now()), row["id"]),
            )
        elif attempts >= self.config.callback_max_attempts:
            logger.warning("callback %s given up after %s attempts", row["id"], attempts)
            connection.execute(
                "UPDATE callbacks SET attempts = ?, status = 'failed', last_error = ? WHERE id = ?",
                (attempts, error, row["id"]),
            )
        else:
            connection.execute(
                "UPDATE callbacks SET attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?",
                (attempts, now + self._backoff_s(attempts), error, row["id"]),
            )

    def _backoff_s(self, attempts: int) -> float:
        base_s = self.config.callback_retry_base_ms / 1000
        ceiling_s = self.config.callback_retry_max_ms / 1000
        delay_s = min(ceiling_s, base_s * 2 ** min(attempts - 1, 30))
        return delay_s * _JITTER.uniform(0.5, 1.0)  # jitter: retries do not arrive in step


def _batchable(row: sqlite3.Row) -> bool:
    """A transfer callback on its first attempt, of which no copy has gone yet."""
    return row["event_type"] in TRANSFER_EVENTS and row["attempts"] == 0


def _batch_body(rows: list[sqlite3.Row]) -> str:
    items = [{"id": row["id"], **json.loads(row["payload"])} for row in rows]
    payload = {"type": "batch", "timestamp": iso(utc_now()), "data": {"callbacks": items}}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)
