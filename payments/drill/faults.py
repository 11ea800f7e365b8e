"""The faults: every KILL_EVERY_S one database backend of the stack is terminated (one serving a
statement when there is one, as a failover or an operator would), and once, halfway through, the
Celery worker's whole process group is SIGKILLed (and restarted by the runner)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable

from core.postgresql.scratch import maintenance_connection

KILL_EVERY_S = 4.0

_BACKENDS_SQL = (
    "SELECT pid, application_name, state FROM pg_stat_activity "
    "WHERE datname = %s AND application_name LIKE %s AND pid <> pg_backend_pid()"
)


class Faults:
    def __init__(
        self,
        *,
        database: dict,
        application_prefix: str,
        chaos: random.Random,
        say: Callable[[str], None],
    ) -> None:
        self.database = database
        self.prefix = application_prefix
        self.chaos = chaos
        self.say = say
        self.killed: Counter = Counter()
        self.stopped = threading.Event()

    def kill_backends_until_stopped(self) -> None:
        """Run in a thread: a backend every KILL_EVERY_S until stop()."""
        while not self.stopped.wait(KILL_EVERY_S):
            try:
                self.kill_one_backend()
            except Exception as error:  # the next round tries again
                self.say(f"backend kill failed: {error!r}")

    def kill_one_backend(self) -> None:
        with maintenance_connection(self.database) as admin:
            rows = admin.execute(
                _BACKENDS_SQL, [self.database["NAME"], f"{self.prefix}%"]
            ).fetchall()
            busy = [row for row in rows if row[2] not in ("idle", None)]
            pool = busy or rows
            if not pool:
                return
            pid, application, _state = self.chaos.choice(pool)
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        self.killed[application.removeprefix(self.prefix)] += 1

    def stop(self) -> None:
        self.stopped.set()
