"""Running the bank: a threaded WSGI server plus its two kinds of background thread (clearing,
callback delivery), all stopped together on SIGTERM or Ctrl-C."""

from __future__ import annotations

import contextlib
import logging
import signal
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .app import SandboxBankApp
from .auth import RequestVerifier
from .banking import Bank
from .callbacks import CallbackDispatcher
from .config import BankConfig
from .faults import Faults
from .store import Database

logger = logging.getLogger("sandbox_bank")
_IDLE_WAIT_S = 0.5
_DEFAULT_PLATFORM_CURRENCY = "EUR"


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request hanging on purpose (timeout knob) does not block shutdown
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:
        logger.info("%s %s", self.address_string(), format % args)

    def handle(self) -> None:
        # The client may have given up (its timeout): then there is nobody to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()


class ClearingThread(threading.Thread):
    """Settles, rejects and returns transfers when they fall due."""

    def __init__(self, bank: Bank) -> None:
        super().__init__(name="sandbox-bank-clearing", daemon=True)
        self.bank = bank
        self.wake = threading.Event()
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.wake.set()
        self.join(timeout=5)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                done = self.bank.settle_due() + self.bank.return_due()
                due = self.bank.next_due()
            except Exception:  # keep clearing: the row stays due and is tried again after a pause
                logger.exception("clearing failed")
                done, due = 0, None
            if done:
                continue
            wait_s = _IDLE_WAIT_S if due is None else min(_IDLE_WAIT_S, max(0.0, due - time.time()))
            if wait_s > 0:
                self.wake.wait(wait_s)
                self.wake.clear()
        self.bank.db.close()


@dataclass
class RunningBank:
    config: BankConfig
    bank: Bank
    app: SandboxBankApp
    clearing: ClearingThread
    dispatcher: CallbackDispatcher

    def stop(self) -> None:
        self.clearing.stop()
        self.dispatcher.stop()


def build(config: BankConfig) -> RunningBank:
    """The bank with its database ready and its background threads started."""
    if not config.webhook_secret:
        raise ValueError("SANDBOX_BANK_WEBHOOK_SECRET is not set: callbacks cannot be signed")
    verifier = RequestVerifier(
        config.platform_public_key_pem, tolerance_s=config.signature_tolerance_s
    )
    db = Database(config.db_path)
    db.create_schema()
    faults = Faults(config.knobs)
    dispatcher = CallbackDispatcher(db, config, faults)
    wakers: list = [dispatcher.wake]
    bank = Bank(db, config, faults, on_change=lambda: [wake() for wake in wakers])
    bank.ensure_platform_account(_DEFAULT_PLATFORM_CURRENCY)
    clearing = ClearingThread(bank)
    wakers.append(clearing.wake.set)
    app = SandboxBankApp(bank, config, faults, verifier, dispatcher)
    clearing.start()
    dispatcher.start()
    return RunningBank(config, bank, app, clearing, dispatcher)


def serve(config: BankConfig, *, host: str, port: int) -> None:
    """Serve until SIGTERM or Ctrl-C."""
    running = build(config)
    server = make_server(
        host, port, running.app, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    )

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(  # the one line a person (or a test fixture) waits for
        f"Sandbox bank listening on http://{host}:{server.server_port} (db {config.db_path})",
        flush=True,
        file=sys.stdout,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        running.stop()
