"""The drills' child processes live in core.processes (the payments drill uses them too); the
names stay importable from here for the settlement drill."""

from core.processes import Child, Supervisor, free_port, http_status, wait_until

__all__ = ["Child", "Supervisor", "free_port", "http_status", "wait_until"]
