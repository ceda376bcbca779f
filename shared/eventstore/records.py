"""What the event store hands out, and the expected-version vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Expected versions: ANY skips the check, NO_STREAM means the stream must not exist yet.
ANY: int = -1
NO_STREAM: int = 0


@dataclass(frozen=True)
class RecordedEvent:
    event_id: str
    stream: str
    version: int
    position: int
    type: str
    schema_version: int
    data: dict
    metadata: dict
    recorded_at: datetime
    hash: bytes

    def envelope(self) -> dict[str, Any]:
        """The event as published on the broker and handed to consumers."""
        return {
            "event_id": self.event_id,
            "stream": self.stream,
            "version": self.version,
            "position": self.position,
            "type": self.type,
            "schema_version": self.schema_version,
            "data": self.data,
            "metadata": self.metadata,
            "recorded_at": self.recorded_at.isoformat(),
        }


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of walking a log's hash chain."""

    ok: bool
    checked: int
    head_position: int
    head_hash: bytes
    first_bad_position: int | None = None
    problem: str | None = None
