"""The shape every service's domain follows: pure Python, no I/O.

An aggregate is the state folded from one event stream. Commands are methods that check
invariants and *record* new events (past-tense names such as ``MilestoneFunded``); recording
applies the event to the state at once and queues it in ``pending`` for the unit of work to
append with the expected version ``loaded_version``.

Applying an event is a method named ``on_<EventType>`` taking the event's data dict::

    class Job(Aggregate):
        stream_prefix = "job"

        def publish(self, now):
            if self.status != "draft":
                raise Conflict("only a draft can be published")
            self.record("JobPublished", published_at=iso(now))

        def on_JobPublished(self, data):
            self.status = "open"

Event data must be JSON made of dicts, lists, strings, integers, booleans and None: no
floats (money is integer minor units) and datetimes as ISO 8601 strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended to ``stream``."""

    type: str
    data: dict
    stream: str = ""
    schema_version: int = 1
    metadata: dict = field(default_factory=dict)


class Aggregate:
    stream_prefix: ClassVar[str] = ""

    def __init__(self, id: str):
        self.id = id
        self.version = 0  # version of the last event applied, pending ones included
        self.loaded_version = 0  # version of the stream when it was read
        self.pending: list[NewEvent] = []

    @classmethod
    def stream_for(cls, id: str) -> str:
        return f"{cls.stream_prefix}-{id}"

    @property
    def stream(self) -> str:
        return self.stream_for(self.id)

    @property
    def exists(self) -> bool:
        return self.version > 0

    @classmethod
    def fresh(cls, id: str) -> Aggregate:
        """A new aggregate under ``id`` (a fresh random id): nothing to read first. Its
        events append at expected version 0, so an id whose stream exists is refused."""
        return cls.rehydrate(id, ())

    @classmethod
    def rehydrate(cls, id: str, events: Iterable[Any]) -> Aggregate:
        """Fold stored events (anything with ``.type``, ``.data`` and ``.version``)."""
        agg = cls(id)
        for event in events:
            agg._apply(event.type, event.data)
            agg.version = event.version
        agg.loaded_version = agg.version
        return agg

    def record(self, event_type: str, **data: Any) -> NewEvent:
        event = NewEvent(type=event_type, data=data, stream=self.stream)
        self._apply(event_type, data)
        self.version += 1
        self.pending.append(event)
        return event

    def _apply(self, event_type: str, data: dict) -> None:
        handler = getattr(self, f"on_{event_type}", None)
        if handler is None:
            raise TypeError(f"{type(self).__name__} cannot apply {event_type}")
        handler(data)

    def take_pending(self) -> list[NewEvent]:
        pending, self.pending = self.pending, []
        self.loaded_version = self.version
        return pending
