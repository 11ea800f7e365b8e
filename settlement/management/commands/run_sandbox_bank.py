"""`manage.py run_sandbox_bank [--port 8765] [--reset]`: the sandbox bank as its own process.

The bank (sandbox_bank/) is configured by its own environment; this command, the platform's
launcher for it, hands it what must match the platform's settings: the public half of
CLEARHOUSE_BANK_SIGNING_KEY, the callback secret CLEARHOUSE_BANK_WEBHOOK_SECRET, the operator token
SANDBOX_BANK_ADMIN_TOKEN and the callback URL SANDBOX_BANK_CALLBACK_URL. Host and port default to
SANDBOX_BANK_URL's. Fault knobs come from SANDBOX_BANK_<KNOB> variables (docs/sandbox_bank.md).
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from sandbox_bank.config import config_from_env
from sandbox_bank.server import serve
from sandbox_bank.store import reset_database
from settlement.gateways.sandbox import bank_public_key_pem


class Command(BaseCommand):
    help = "Run the sandbox bank (its own database, HTTP API, callbacks) until stopped."
    requires_system_checks: list = []  # it touches none of the platform's tables

    def add_arguments(self, parser) -> None:
        address = urlsplit(settings.SANDBOX_BANK_URL)
        parser.add_argument("--host", default=address.hostname or "127.0.0.1")
        parser.add_argument("--port", type=int, default=address.port or 8765)
        parser.add_argument("--db", type=Path, help="SQLite file (default: SANDBOX_BANK_DB)")
        parser.add_argument(
            "--callback-url",
            default=settings.SANDBOX_BANK_CALLBACK_URL,
            help="where the bank sends callbacks (default: SANDBOX_BANK_CALLBACK_URL)",
        )
        parser.add_argument(
            "--reset", action="store_true", help="delete the bank's database first (a new bank)"
        )

    def handle(self, *args, **options) -> None:
        try:
            config = config_from_env()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            config.platform_public_key_pem = bank_public_key_pem(
                settings.CLEARHOUSE_BANK_SIGNING_KEY
            )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        config.webhook_secret = settings.CLEARHOUSE_BANK_WEBHOOK_SECRET
        config.admin_token = settings.SANDBOX_BANK_ADMIN_TOKEN
        config.callback_url = options["callback_url"] or ""
        if options["db"]:
            config.db_path = options["db"]
        if options["reset"]:
            for path in reset_database(config.db_path):
                self.stdout.write(f"removed {path}")
        logging.getLogger("sandbox_bank").setLevel(logging.INFO)
        try:
            serve(config, host=options["host"], port=options["port"])
        except (OSError, ValueError) as exc:
            raise CommandError(f"the sandbox bank could not start: {exc}") from None
