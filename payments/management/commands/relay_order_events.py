"""Run the order events outbox relay (payments/orders/event_relay.py) until stopped.

    manage.py relay_order_events [--interval 0.2] [--once]

A production process beside web, worker and beat when settings.ORDER_EVENTS_RELAY is on.
SIGTERM / SIGINT stop it after the round at hand.
"""

from __future__ import annotations

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from payments.orders.event_relay import RELAY_BATCH, relay_enabled, relay_order_events_once

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Hand order events from the outbox (OrderEvent rows) to dispatch tasks."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds between polls when idle (default ORDER_EVENTS_RELAY_INTERVAL_S)",
        )
        parser.add_argument("--once", action="store_true", help="one round, then exit")

    def handle(self, *args, **options) -> None:
        if not relay_enabled():
            # Events are published on commit then: a relay as well would hand them over twice.
            raise CommandError("ORDER_EVENTS_RELAY is off: events are published on commit.")
        interval = options["interval"]
        if interval is None:
            interval = float(getattr(settings, "ORDER_EVENTS_RELAY_INTERVAL_S", 0.2))
        if options["once"]:
            self.stdout.write(f"relayed {len(relay_order_events_once())} order events")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        # One connection for the process's life (a poll every `interval` s must not reconnect);
        # a database error drops it and the next round connects again.
        logger.info("relay: polling every %.2f s", interval)
        while not stop.is_set():
            try:
                claimed = len(relay_order_events_once())
            except DatabaseError:
                logger.exception("relay: round failed; reconnecting")
                connection.close()
                claimed = 0
                stop.wait(max(interval, 1.0))
            if claimed < RELAY_BATCH:  # a full batch: more are waiting, go on at once
                stop.wait(interval)
        logger.info("relay: stopped")
