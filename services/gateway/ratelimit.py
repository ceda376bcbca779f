"""Token buckets per caller, kept in the gateway process.

Config ``RATE_LIMITS`` maps a bucket name (the ``rate_limit`` of a route) to
``{CAPACITY: requests, PERIOD_SECONDS: seconds}``: a caller may burst ``CAPACITY`` requests
and then gets one more every ``PERIOD_SECONDS / CAPACITY`` seconds. A caller is its bearer
token when it sends one, else its client address. Each gateway replica counts on its own,
so a deployment of N replicas lets through up to N times the limit: this is a brake on
guessing passwords and spraying proposals, not an accounting device.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nameko.extensions import DependencyProvider

# Full buckets are forgotten once this many callers are tracked (a full bucket is the same
# as a caller never seen).
MAX_TRACKED = 100_000


@dataclass(frozen=True)
class Limit:
    capacity: int
    period_seconds: float

    @property
    def refill_per_second(self) -> float:
        return self.capacity / self.period_seconds


class Buckets:
    """Token buckets of one limit, one bucket per caller key."""

    def __init__(self, limit: Limit, monotonic: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when allowed, else the seconds until one is back."""
        now = self.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.limit.capacity), now))
            tokens = min(
                float(self.limit.capacity), tokens + (now - at) * self.limit.refill_per_second
            )
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                self._forget_full(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.limit.refill_per_second

    def _forget_full(self, now: float) -> None:
        if len(self._buckets) <= MAX_TRACKED:
            return
        rate, capacity = self.limit.refill_per_second, self.limit.capacity
        self._buckets = {
            key: (tokens, at)
            for key, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * rate < capacity
        }


def caller_key(authorization: str | None, client_address: str | None) -> str:
    """Who is counted: a digest of the token (never the token itself), else the address."""
    if authorization:
        return "token:" + hashlib.sha256(authorization.encode()).hexdigest()[:32]
    return f"address:{client_address or 'unknown'}"


def parse_limits(config: dict | None) -> dict[str, Limit]:
    limits = {}
    for name, spec in (config or {}).items():
        capacity = int(spec["CAPACITY"])
        period = float(spec["PERIOD_SECONDS"])
        if capacity < 1 or period <= 0:
            raise ValueError(f"rate limit {name}: CAPACITY >= 1 and PERIOD_SECONDS > 0")
        limits[name] = Limit(capacity, period)
    return limits


class RateLimiter(DependencyProvider):
    """``limiter.retry_after(bucket, key)``: 0 when the request may go on, else seconds to
    wait. A route naming a bucket that is not configured is not limited."""

    def setup(self) -> None:
        limits = parse_limits(self.container.config.get("RATE_LIMITS"))
        self.buckets = {name: Buckets(limit) for name, limit in limits.items()}

    def retry_after(self, bucket: str | None, key: str) -> int:
        buckets = self.buckets.get(bucket) if bucket else None
        if buckets is None:
            return 0
        wait = buckets.take(key)
        return math.ceil(wait) if wait > 0 else 0

    def get_dependency(self, worker_ctx) -> RateLimiter:
        return self
