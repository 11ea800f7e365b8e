"""Fault knobs: how badly the bank behaves, set by environment and by `POST /admin/faults`.

Each knob is read from `SANDBOX_BANK_<NAME>` at start (e.g. SANDBOX_BANK_ERROR_RATE=0.1) and can
be changed while the bank runs. Every random decision is drawn from one generator seeded with
`seed`, so a run with the same seed and the same order of requests misbehaves the same way.

- latency_ms: added to every platform request before it is handled.
- timeout_rate / timeout_mode / hang_ms: the request hangs `hang_ms` (past the client's timeout)
  "before" doing anything (then 504, nothing done) or "after" doing the work (the answer comes
  too late); "either" picks one per request.
- error_rate / error_mode: a 5xx "before" processing (nothing done) or "after" it (done, but the
  client hears 500); "either" picks.
- duplicate_callbacks_rate: a callback is delivered twice (same webhook-id), the copy a little later.
- drop_callbacks_rate: a callback is never sent (the platform must ask for the status).
- return_after_paid_rate: a paid transfer is sent back by the creditor's bank after return_delay_ms.
- settle_delay_ms: how long a transfer stays accepted before it is settled or rejected.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .errors import BadRequest

MODES = ("before", "after", "either")
_RATES = (
    "timeout_rate",
    "error_rate",
    "duplicate_callbacks_rate",
    "drop_callbacks_rate",
    "return_after_paid_rate",
)
_DURATIONS_MS = ("latency_ms", "hang_ms", "settle_delay_ms", "return_delay_ms")
MAX_DURATION_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class Knobs:
    latency_ms: int = 0
    timeout_rate: float = 0.0
    timeout_mode: str = "either"
    hang_ms: int = 30_000
    error_rate: float = 0.0
    error_mode: str = "either"
    duplicate_callbacks_rate: float = 0.0
    drop_callbacks_rate: float = 0.0
    return_after_paid_rate: float = 0.0
    settle_delay_ms: int = 1_000
    return_delay_ms: int = 5_000
    seed: int | None = None


def _checked(name: str, value: Any) -> Any:
    if name in _RATES:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise BadRequest(f"{name} is a number from 0 to 1.", field=name)
        return float(value)
    if name in _DURATIONS_MS:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 0 <= value <= MAX_DURATION_MS
        ):
            raise BadRequest(
                f"{name} is whole milliseconds from 0 to {MAX_DURATION_MS}.", field=name
            )
        return value
    if name in ("timeout_mode", "error_mode"):
        if value not in MODES:
            raise BadRequest(f"{name} is one of {', '.join(MODES)}.", field=name)
        return value
    if name == "seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise BadRequest("seed is an integer or null.", field=name)
        return value
    raise BadRequest(f"Unknown fault knob {name!r}.", field=name)


def _parse_env_value(name: str, raw: str) -> Any:
    if name in _RATES:
        return float(raw)
    if name in _DURATIONS_MS or name == "seed":
        return int(raw)
    return raw


def knobs_from_env(environ: Mapping[str, str] | None = None) -> Knobs:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for knob in fields(Knobs):
        raw = environ.get(f"SANDBOX_BANK_{knob.name.upper()}", "").strip()
        if raw:
            try:
                values[knob.name] = _checked(knob.name, _parse_env_value(knob.name, raw))
            except (ValueError, BadRequest) as exc:
                raise ValueError(f"SANDBOX_BANK_{knob.name.upper()}={raw!r}: {exc}") from None
    return Knobs(**values)


class Faults:
    """The knobs in force and the seeded generator every fault decision is drawn from."""

    def __init__(self, knobs: Knobs) -> None:
        self._lock = threading.Lock()
        self._knobs = knobs
        self._random = random.Random(knobs.seed)  # noqa: S311 - simulation, not security

    @property
    def knobs(self) -> Knobs:
        return self._knobs

    def update(self, changes: Mapping[str, Any]) -> Knobs:
        """Apply a partial change (unknown or out-of-range knobs refused, nothing applied); a new
        seed restarts the generator."""
        checked = {name: _checked(name, value) for name, value in changes.items()}
        with self._lock:
            self._knobs = replace(self._knobs, **checked)
            if "seed" in checked:
                self._random = random.Random(checked["seed"])  # noqa: S311
            return self._knobs

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    def mode(self, configured: str) -> str:
        if configured != "either":
            return configured
        with self._lock:
            return self._random.choice(("before", "after"))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self._knobs)
