"""The faults: every KILL_EVERY_S every database backend of the stack (web, worker, beat) is
terminated, as a failover or an operator would, whatever it is doing; and once, halfway through,
the Celery worker's whole process group is SIGKILLed (and restarted by the runner)."""

from __future__ import annotations

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
        say: Callable[[str], None],
    ) -> None:
        self.database = database
        self.prefix = application_prefix
        self.say = say
        self.killed: Counter = Counter()
        self.stopped = threading.Event()

    def kill_backends_until_stopped(self) -> None:
        """Run in a thread: the stack's backends every KILL_EVERY_S until stop()."""
        while not self.stopped.wait(KILL_EVERY_S):
            try:
                self.kill_backends()
            except Exception as error:  # the next round tries again
                self.say(f"backend kill failed: {error!r}")

    def kill_backends(self) -> None:
        """Terminate every backend of the stack at once: those serving a statement lose it
        mid-request (or mid-task); idle ones are found dead when next used."""
        with maintenance_connection(self.database) as admin:
            rows = admin.execute(
                _BACKENDS_SQL, [self.database["NAME"], f"{self.prefix}%"]
            ).fetchall()
            for pid, application, state in rows:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                name = application.removeprefix(self.prefix)
                self.killed[f"{name} ({'idle' if state == 'idle' else 'busy'})"] += 1

    def stop(self) -> None:
        self.stopped.set()
