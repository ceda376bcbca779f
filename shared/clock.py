"""Time comes from here, never from ``datetime.now`` in service code.

Production uses ``SystemClock`` (config ``CLOCK: system``). Tests use ``ManualClock`` and
move it; a service started with ``CLOCK: manual`` shares the process-wide ``manual_clock``
so that a test can move time for services running in the same process. Services in
separate processes (a demo, a crash test) share ``CLOCK: offset:<path>``: the system time
plus an offset in seconds read from that file, which ``advance_offset_clock`` moves for
all of them at once. Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

from nameko.extensions import DependencyProvider


class Clock:
    def now(self) -> datetime:
        raise NotImplementedError


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock(Clock):
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime | None = None):
        self._lock = threading.Lock()
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kwargs) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now


class OffsetFileClock(Clock):
    """The system time moved forward by the number of seconds written in a file.

    The file is read again when it changes (by modification time), so every process that
    shares it sees time jump together; it never moves backwards on its own.
    """

    def __init__(self, path: str):
        self.path = path
        self._stamp: float | None = None
        self._offset = 0.0

    def offset(self) -> float:
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return 0.0
        if stamp != self._stamp:
            with open(self.path) as f:
                text = f.read().strip()
            self._offset = float(text or 0)
            self._stamp = stamp
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset())


def advance_offset_clock(path: str, delta: timedelta) -> float:
    """Move every ``CLOCK: offset:<path>`` service forward by ``delta``; returns the offset."""
    clock = OffsetFileClock(path)
    new = clock.offset() + delta.total_seconds()
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(repr(new))
    os.replace(tmp, path)
    return new


system_clock = SystemClock()
manual_clock = ManualClock()
_offset_clocks: dict[str, OffsetFileClock] = {}


def clock_from_config(config: dict) -> Clock:
    kind = str(config.get("CLOCK", "system"))
    if kind == "manual":
        return manual_clock
    if kind.startswith("offset:"):
        path = kind.removeprefix("offset:")
        return _offset_clocks.setdefault(path, OffsetFileClock(path))
    if kind != "system":
        raise ValueError(f"unknown CLOCK setting {kind!r}: system, manual or offset:<path>")
    return system_clock


class ClockProvider(DependencyProvider):
    """Injects the configured clock into workers."""

    def setup(self):
        self.clock = clock_from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.clock


def parse_time(value: str) -> datetime:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()
