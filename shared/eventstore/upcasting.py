"""Old schema versions of an event are upgraded when read, one small step at a time.

    upcasters = Upcasters()

    @upcasters.register("JobPosted", 1)
    def job_posted_v1_v2(data):
        return {**data, "visibility": "public"}

The function registered for (type, 1) turns version 1 into version 2; reading applies the
chain until no further step exists. Stored rows are never changed, so hashes still verify.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from shared.eventstore.records import RecordedEvent

Upcast = Callable[[dict], dict]


class Upcasters:
    def __init__(self):
        self._steps: dict[tuple[str, int], Upcast] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcast], Upcast]:
        def decorate(fn: Upcast) -> Upcast:
            key = (event_type, from_version)
            if key in self._steps:
                raise ValueError(f"two upcasters for {event_type} v{from_version}")
            self._steps[key] = fn
            return fn

        return decorate

    def latest_version(self, event_type: str, version: int = 1) -> int:
        while (event_type, version) in self._steps:
            version += 1
        return version

    def upcast(self, event_type: str, version: int, data: dict) -> tuple[int, dict]:
        while (step := self._steps.get((event_type, version))) is not None:
            data = step(data)
            version += 1
        return version, data

    def upcast_event(self, event: RecordedEvent) -> RecordedEvent:
        """The event as the newest reader expects it; the same object when nothing changes."""
        version, data = self.upcast(event.type, event.schema_version, event.data)
        if version == event.schema_version:
            return event
        return dataclasses.replace(event, schema_version=version, data=data)


NO_UPCASTERS = Upcasters()
