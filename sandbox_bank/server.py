"""Running the bank: a threaded WSGI server plus its two kinds of background thread (clearing,
callback delivery), all stopped together on SIGTERM or Ctrl-C."""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from .app import MAX_BODY_BYTES, SandboxBankApp
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


class _KeepAliveServerHandler(ServerHandler):
    http_version = "1.1"

    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        if "Content-Length" not in self.headers:
            self.request_handler.close_connection = True  # the answer ends where the stream does


class QuietHandler(WSGIRequestHandler):
    """wsgiref's handler, with HTTP/1.1 keep-alive: a client that sends many requests (a worker
    submitting a few payouts) reuses one connection and one server thread. Each request's body is
    read before the app runs, so a refusal that ignores it cannot leave bytes in the stream."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle kept-alive connection (and its thread) ends after this
    # wsgiref writes the head and the body of an answer apart: with Nagle's algorithm on, the body
    # waits for the client's delayed ACK of the head (40 ms a request on a kept-alive connection).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:
        logger.info("%s %s", self.address_string(), format % args)

    def handle(self) -> None:
        # The client may have given up (its timeout) or gone idle: then there is nobody to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
            BaseHTTPRequestHandler.handle(self)  # handle_one_request until the connection closes

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():  # also sets close_connection from the request's headers
            return
        environ = self.get_environ()
        length = environ.get("CONTENT_LENGTH") or "0"
        if self.headers.get("Transfer-Encoding") or not length.isdigit():
            self.close_connection = True  # no length to read by: the app reads what it can
            body = self.rfile
        elif int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # not read: the app refuses it, then the stream ends
            body = io.BytesIO()
        else:
            body = io.BytesIO(self.rfile.read(int(length)))
        handler = _KeepAliveServerHandler(
            body, self.wfile, self.get_stderr(), environ, multithread=True
        )
        handler.request_handler = self
        handler.run(self.server.get_app())


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
