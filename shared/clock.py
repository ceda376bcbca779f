"""Time comes from here, never from ``datetime.now`` in service code.

Production uses ``SystemClock``. Tests use ``ManualClock`` and move it; a service started
with config ``CLOCK: manual`` shares the process-wide ``manual_clock`` so that a test can
move time for services running in the same process. Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

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


system_clock = SystemClock()
manual_clock = ManualClock()


def clock_from_config(config: dict) -> Clock:
    return manual_clock if config.get("CLOCK", "system") == "manual" else system_clock


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
