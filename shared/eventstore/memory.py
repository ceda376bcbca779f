"""An in-memory event store that honours the same contract as the PostgreSQL one.

For fast domain-level tests and as the reference in the store's contract test suite. One
lock serialises transactions, which is the same guarantee the database's append lock gives.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from shared.clock import Clock, system_clock
from shared.domain import Aggregate, NewEvent
from shared.errors import ConcurrencyError, NotFound
from shared.eventstore.hashing import GENESIS_HASH, canonical_text, chain_hash, digest_of_text
from shared.eventstore.records import ANY, RecordedEvent, VerifyReport
from shared.eventstore.upcasting import NO_UPCASTERS, Upcasters

A = TypeVar("A", bound=Aggregate)


class MemoryUnitOfWork:
    def __init__(self, store: InMemoryEventStore, metadata: dict, reading: bool = False):
        self.store = store
        self.metadata = metadata
        self.reading = reading
        self.staged: list[RecordedEvent] = []
        self.recorded = self.staged

    def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        events = self.store._committed_stream(stream) + [
            e for e in self.staged if e.stream == stream
        ]
        return [self.store._upcast(e) for e in events if e.version > after_version]

    def read_streams(self, streams: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        return {stream: self.read_stream(stream) for stream in streams}

    def load(self, cls: type[A], id: str, *, must_exist: bool = False) -> A:
        events = self.read_stream(cls.stream_for(id))
        if must_exist and not events:
            raise NotFound(f"{cls.__name__.lower()} {id} not found")
        return cls.rehydrate(id, events)

    def load_many(self, *wanted: tuple[type[Aggregate], str]) -> list[Aggregate]:
        return [self.load(cls, id) for cls, id in wanted]

    def save(self, *aggregates: Aggregate, metadata: Mapping | None = None) -> list[RecordedEvent]:
        expected, events = {}, []
        for agg in aggregates:
            if agg.pending:
                expected[agg.stream] = agg.loaded_version
                events.extend(agg.pending)
        recorded = self.append(events, expected, metadata)
        for agg in aggregates:
            agg.take_pending()
        return recorded

    def _version(self, stream: str) -> int:
        versions = [e.version for e in self.read_stream(stream)]
        return max(versions, default=0)

    def append(
        self,
        events: Sequence[NewEvent],
        expected: Mapping[str, int] | None = None,
        metadata: Mapping | None = None,
    ) -> list[RecordedEvent]:
        if not events:
            return []
        if self.reading:
            raise TypeError("a reading unit of work cannot append; use transaction()")
        for stream, version in (expected or {}).items():
            current = self._version(stream)
            if version is not None and version != ANY and current != version:
                raise ConcurrencyError(
                    "the stream moved on; reload and retry",
                    f"stream {stream} is at version {current}, expected {version}",
                )
        meta = {**self.metadata, **(metadata or {})}
        now = self.store.clock.now()
        head_position, head_hash = self.store._head_locked(self.staged)
        out = []
        for e in events:
            version = self._version(e.stream) + 1
            head_position += 1
            event_id = str(uuid.uuid4())
            event_meta = {**meta, **e.metadata}
            data = copy.deepcopy(e.data)
            text = canonical_text(
                event_id, e.stream, e.type, e.schema_version, data, event_meta, now
            )
            head_hash = chain_hash(head_hash, head_position, version, digest_of_text(text))
            recorded = RecordedEvent(
                event_id,
                e.stream,
                version,
                head_position,
                e.type,
                e.schema_version,
                data,
                event_meta,
                now,
                head_hash,
            )
            self.staged.append(recorded)
            out.append(recorded)
        return out


class InMemoryEventStore:
    def __init__(self, *, clock: Clock = system_clock, upcasters: Upcasters = NO_UPCASTERS):
        self.clock = clock
        self.upcasters = upcasters
        self._lock = threading.RLock()
        self._events: list[RecordedEvent] = []

    def _committed_stream(self, stream: str) -> list[RecordedEvent]:
        return [e for e in self._events if e.stream == stream]

    def _head_locked(self, staged: list[RecordedEvent]) -> tuple[int, bytes]:
        last = staged[-1] if staged else (self._events[-1] if self._events else None)
        return (last.position, last.hash) if last else (0, GENESIS_HASH)

    def _upcast(self, event: RecordedEvent) -> RecordedEvent:
        return self.upcasters.upcast_event(event)

    @contextmanager
    def transaction(self, metadata: Mapping | None = None) -> Iterator[MemoryUnitOfWork]:
        with self._lock:
            uow = MemoryUnitOfWork(self, dict(metadata or {}))
            yield uow
            self._events.extend(uow.staged)

    @contextmanager
    def reading(self) -> Iterator[MemoryUnitOfWork]:
        with self._lock:
            yield MemoryUnitOfWork(self, {}, reading=True)

    def append(self, events, expected=None, metadata=None) -> list[RecordedEvent]:
        with self.transaction(metadata) as uow:
            return uow.append(events, expected)

    def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        with self._lock:
            return [
                self._upcast(e) for e in self._committed_stream(stream) if e.version > after_version
            ]

    def load(self, cls: type[A], id: str, *, must_exist: bool = False) -> A:
        with self.reading() as uow:
            return uow.load(cls, id, must_exist=must_exist)

    def stream_version(self, stream: str) -> int:
        return max((e.version for e in self.read_stream(stream)), default=0)

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        with self._lock:
            return [self._upcast(e) for e in self._events if e.position > after_position][:limit]

    def iter_all(
        self, after_position: int = 0, page: int = 1000, until: Any = None
    ) -> Iterator[RecordedEvent]:
        for event in self.read_all(after_position, limit=len(self._events) + 1):
            if until is not None and event.recorded_at > until:
                return
            yield event

    def head(self) -> tuple[int, bytes]:
        with self._lock:
            return self._head_locked([])

    def verify(self, batch: int = 20000, progress=None) -> VerifyReport:
        with self._lock:
            events = sorted(self._events, key=lambda e: e.position)
        previous, expected_position = GENESIS_HASH, 1
        for checked, e in enumerate(events):
            if e.position != expected_position:
                return VerifyReport(
                    False,
                    checked,
                    e.position,
                    previous,
                    expected_position,
                    f"position {expected_position} is missing",
                )
            text = canonical_text(
                e.event_id, e.stream, e.type, e.schema_version, e.data, e.metadata, e.recorded_at
            )
            computed = chain_hash(previous, e.position, e.version, digest_of_text(text))
            if computed != e.hash:
                return VerifyReport(
                    False,
                    checked,
                    e.position,
                    previous,
                    e.position,
                    "hash mismatch: the event or one before it was altered",
                )
            previous = computed
            expected_position += 1
        return VerifyReport(True, len(events), expected_position - 1, previous)
