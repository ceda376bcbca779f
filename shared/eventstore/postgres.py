"""The event store on PostgreSQL: one per service, in that service's own database.

    store = PostgresEventStore.connect(dsn, clock=clock, projections=[...])
    with store.transaction(metadata={"actor": user_id}) as uow:
        job = uow.load(Job, job_id)
        job.publish(now)
        uow.save(job)            # appends with the expected version, runs the projections

Appends go through the ``append_events`` database function (shared/migrations), which
serialises writers, checks expected versions, hands out positions in commit order and
extends the hash chain, all in one round trip.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from shared.clock import Clock, system_clock
from shared.domain import Aggregate, NewEvent
from shared.errors import ConcurrencyError, NotFound
from shared.eventstore.hashing import CANONICAL_SQL, GENESIS_HASH, chain_hash, digest_of_text
from shared.eventstore.records import ANY, RecordedEvent, VerifyReport
from shared.eventstore.upcasting import NO_UPCASTERS, Upcasters
from shared.jsoncodec import loads

A = TypeVar("A", bound=Aggregate)

# data and metadata travel as text and are decoded here (orjson, shared.jsoncodec): measured
# ~3x faster than psycopg's jsonb loader on long scans
_COLUMNS = "stream, version, position, event_id, type, schema_version, data::text, metadata::text, recorded_at, hash"

# The transaction-scoped advisory lock ``append_events`` takes; holding it pauses appenders.
APPEND_LOCK = 7420001
_CONCURRENCY_SQLSTATE = "MV409"

# Event data is JSON made of dicts, lists, strings, integers and booleans: anything orjson
# would quietly turn into a string of its own making (datetimes, dataclasses) is refused.
_STRICT_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

_position_of = itemgetter(1)  # of an append_events row


class Projection:
    """A read model kept in the same transaction as the append.

    Subclasses name the tables they own (so they can be rebuilt) and define
    ``on_<EventType>(self, cur, event)`` methods; events without a method are ignored.

    Two optional hooks make a replay from position 0 fast (``shared.audit.replay`` uses them
    when present): ``apply_batch(cur, events)``, with the same effect as applying each event
    in turn, and ``rebuild(cur, until)``, set-based SQL over ``events`` (upcasters do not
    apply to it, so only projections of events that have never changed shape may use it).
    """

    name: str = ""
    tables: Sequence[str] = ()

    def handles(self, event_type: str) -> bool:
        return hasattr(self, f"on_{event_type}")

    def apply(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        handler = getattr(self, f"on_{event.type}", None)
        if handler is not None:
            handler(cur, event)

    def apply_live(
        self, cur: psycopg.Cursor, event: RecordedEvent, saved: Mapping[str, Aggregate]
    ) -> None:
        """The live path, in the appending transaction: ``apply`` unless overridden.

        ``saved`` maps each stream that ``UnitOfWork.save`` is appending from an aggregate
        to that aggregate, as it stands after all of this append's events on the stream. A
        read model shaped from the whole aggregate can take it from there instead of reading
        and folding the stream again; it must write what ``apply`` would, since a replay
        goes through ``apply``.
        """
        self.apply(cur, event)


def _concurrency_error(exc: psycopg.Error) -> ConcurrencyError:
    return ConcurrencyError("the stream moved on; reload and retry", str(exc.diag.message_primary))


class UnitOfWork:
    """One database transaction: load aggregates, append their events, update read models."""

    def __init__(self, store: PostgresEventStore, conn: psycopg.Connection, metadata: dict):
        self.store = store
        self.conn = conn
        self.cursor = conn.cursor()
        self.metadata = metadata
        self.recorded: list[RecordedEvent] = []

    def execute(self, sql: str, params: Any = None) -> psycopg.Cursor:
        return self.cursor.execute(sql, params)

    def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        return self.store._read_stream(self.conn, stream, after_version)

    def read_streams(self, streams: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        """Several whole streams in one statement, by name (a stream without events: [])."""
        return self.store._read_streams(self.conn, streams)

    def load(self, cls: type[A], id: str, *, must_exist: bool = False) -> A:
        events = self.read_stream(cls.stream_for(id))
        if must_exist and not events:
            raise NotFound(f"{cls.__name__.lower()} {id} not found")
        return cls.rehydrate(id, events)

    def load_many(self, *wanted: tuple[type[Aggregate], str]) -> list[Aggregate]:
        """``load`` of each ``(class, id)``, in that order, read in one round trip."""
        streams = self.read_streams([cls.stream_for(id) for cls, id in wanted])
        return [cls.rehydrate(id, streams[cls.stream_for(id)]) for cls, id in wanted]

    def save(self, *aggregates: Aggregate, metadata: Mapping | None = None) -> list[RecordedEvent]:
        """Append every aggregate's pending events, each stream at its loaded version."""
        expected: dict[str, int] = {}
        saved: dict[str, Aggregate] = {}
        events: list[NewEvent] = []
        for agg in aggregates:
            if agg.pending:
                expected[agg.stream] = agg.loaded_version
                saved[agg.stream] = agg
                events.extend(agg.pending)
        recorded = self._append(events, expected, metadata, saved)
        for agg in aggregates:
            agg.take_pending()
        return recorded

    def append(
        self,
        events: Sequence[NewEvent],
        expected: Mapping[str, int] | None = None,
        metadata: Mapping | None = None,
    ) -> list[RecordedEvent]:
        """Append ``events`` atomically; ``expected`` maps streams to versions (ANY: -1)."""
        return self._append(events, expected, metadata, {})

    def _append(
        self,
        events: Sequence[NewEvent],
        expected: Mapping[str, int] | None,
        metadata: Mapping | None,
        saved: Mapping[str, Aggregate],
    ) -> list[RecordedEvent]:
        """``append``; ``saved`` is what the live projections get (``Projection.apply_live``)."""
        if not events:
            return []
        meta = {**self.metadata, **(metadata or {})}
        now = self.store.clock.now()
        # Every stream the append touches or checks is named once, with its expected version
        # (ANY when only events go to it); each event carries its stream's index and its rank
        # in that stream within the batch, so the database adds the rank to the stream's
        # current version without grouping the batch by stream itself. Types are named once
        # too, and each event carries its type's index.
        streams: dict[str, int] = {}
        expected_versions: list[int] = []
        for stream, version in (expected or {}).items():
            streams[stream] = len(streams) + 1
            expected_versions.append(ANY if version is None else version)
        ranks: dict[str, int] = {}
        types: dict[str, int] = {}
        entries = []
        metas = []
        for e in events:
            index = streams.get(e.stream)
            if index is None:
                index = streams[e.stream] = len(streams) + 1
                expected_versions.append(ANY)
            rank = ranks[e.stream] = ranks.get(e.stream, 0) + 1
            type_index = types.get(e.type)
            if type_index is None:
                type_index = types[e.type] = len(types) + 1
            if e.metadata:
                own = {**meta, **e.metadata}
                entries.append([index, rank, type_index, e.schema_version, e.data, own])
                metas.append(own)
            else:
                entries.append([index, rank, type_index, e.schema_version, e.data])
                metas.append(meta)
        # The batch travels as one JSON text, encoded in one call (orjson: a tenth of the
        # json module's time for a 100-event batch).
        batch = orjson.dumps(entries, option=_STRICT_JSON).decode()
        try:
            rows = self.cursor.execute(
                "SELECT out_event_id, out_position, out_version, out_hash FROM append_events("
                "%b, %b, %b, %s, %b, %b)",
                (list(streams), expected_versions, list(types), batch, Jsonb(meta), now),
                prepare=True,
                binary=True,
            ).fetchall()
        except psycopg.errors.UniqueViolation as exc:
            raise _concurrency_error(exc) from None
        except psycopg.Error as exc:
            if exc.sqlstate == _CONCURRENCY_SQLSTATE:
                raise _concurrency_error(exc) from None
            raise
        # positions follow the batch's order; RETURNING does not promise to
        rows.sort(key=_position_of)
        recorded = [
            RecordedEvent(
                event_id,
                e.stream,
                version,
                position,
                e.type,
                e.schema_version,
                e.data,
                event_meta,
                now,
                digest,
            )
            for e, event_meta, (event_id, position, version, digest) in zip(
                events, metas, rows, strict=True
            )
        ]
        for projection in self.store.projections:
            for event in recorded:
                projection.apply_live(self.cursor, self.store._upcast(event), saved)
        self.recorded.extend(recorded)
        return recorded


class ReadingUnitOfWork(UnitOfWork):
    """A unit of work for reading only (``PostgresEventStore.reading``): it refuses to
    append, so nothing a caller does through it needs the transaction it does not have."""

    def _append(self, events, expected, metadata, saved) -> list[RecordedEvent]:
        raise TypeError("a reading unit of work cannot append; use transaction()")


@contextmanager
def autocommit_connection(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """A pooled connection in autocommit for reads: no BEGIN and COMMIT round trips. Each
    statement sees what was committed when it began, as it would inside a READ COMMITTED
    transaction."""
    with pool.connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.autocommit = False


class PostgresEventStore:
    def __init__(
        self,
        pool: ConnectionPool,
        *,
        clock: Clock = system_clock,
        upcasters: Upcasters = NO_UPCASTERS,
        projections: Sequence[Projection] = (),
    ):
        self.pool = pool
        self.clock = clock
        self.upcasters = upcasters
        self.projections = list(projections)

    @classmethod
    def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 10, **kwargs
    ) -> PostgresEventStore:
        pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=True,
            name="eventstore",
            kwargs={"autocommit": False},
            # no liveness query per checkout (it doubles the round trips of a small append);
            # a broken connection fails its transaction and the pool replaces it
            max_lifetime=600,
        )
        return cls(pool, **kwargs)

    def close(self) -> None:
        self.pool.close()

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def transaction(self, metadata: Mapping | None = None) -> Iterator[UnitOfWork]:
        with self.pool.connection() as conn:
            with conn.transaction():
                yield UnitOfWork(self, conn, dict(metadata or {}))

    @contextmanager
    def reading(self) -> Iterator[UnitOfWork]:
        """A unit of work that only reads (loads, streams, queries), in autocommit: two
        round trips fewer than a transaction, with the same view of committed data that a
        READ COMMITTED transaction gives each statement. Appending from it is refused."""
        with autocommit_connection(self.pool) as conn:
            yield ReadingUnitOfWork(self, conn, {})

    def append(
        self,
        events: Sequence[NewEvent],
        expected: Mapping[str, int] | None = None,
        metadata: Mapping | None = None,
    ) -> list[RecordedEvent]:
        """Append outside a unit of work.

        Without projections to run, the append is the single ``append_events`` statement in
        autocommit mode: atomic on its own, holding its lock until it commits.
        """
        if self.projections:
            with self.transaction(metadata) as uow:
                return uow.append(events, expected)
        with self.pool.connection() as conn:
            conn.autocommit = True
            try:
                return UnitOfWork(self, conn, dict(metadata or {})).append(events, expected)
            finally:
                conn.autocommit = False

    # -- reading -------------------------------------------------------------------------

    def _row(self, row: tuple) -> RecordedEvent:
        stream, version, position, event_id, type_, schema_version, data, metadata, at, h = row
        return self._upcast(
            RecordedEvent(
                str(event_id),
                stream,
                version,
                position,
                type_,
                schema_version,
                loads(data),
                loads(metadata),
                at,
                bytes(h),
            )
        )

    def _upcast(self, event: RecordedEvent) -> RecordedEvent:
        return self.upcasters.upcast_event(event)

    def _read_stream(
        self, conn: psycopg.Connection, stream: str, after_version: int
    ) -> list[RecordedEvent]:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE stream = %s AND version > %s ORDER BY version",
            (stream, after_version),
            prepare=True,
        ).fetchall()
        return [self._row(r) for r in rows]

    def _read_streams(
        self, conn: psycopg.Connection, streams: Sequence[str]
    ) -> dict[str, list[RecordedEvent]]:
        found: dict[str, list[RecordedEvent]] = {stream: [] for stream in streams}
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE stream = ANY(%s) ORDER BY stream, version",
            (list(found),),
            prepare=True,
        ).fetchall()
        for row in rows:
            found[row[0]].append(self._row(row))
        return found

    def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        with autocommit_connection(self.pool) as conn:
            return self._read_stream(conn, stream, after_version)

    def load(self, cls: type[A], id: str, *, must_exist: bool = False) -> A:
        with self.reading() as uow:
            return uow.load(cls, id, must_exist=must_exist)

    def stream_version(self, stream: str) -> int:
        with autocommit_connection(self.pool) as conn:
            row = conn.execute(
                "SELECT coalesce(max(version), 0) FROM events WHERE stream = %s", (stream,)
            ).fetchone()
            return row[0]

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events after ``after_position`` in log order, at most ``limit`` of them."""
        with autocommit_connection(self.pool) as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",
                (after_position, limit),
                prepare=True,
            ).fetchall()
        return [self._row(r) for r in rows]

    def iter_all(
        self, after_position: int = 0, page: int = 1000, until: Any = None
    ) -> Iterator[RecordedEvent]:
        """Every event after ``after_position`` (recorded up to ``until`` if given), paged."""
        while True:
            batch = self.read_all(after_position, page)
            for event in batch:
                if until is not None and event.recorded_at > until:
                    return
                yield event
            if len(batch) < page:
                return
            after_position = batch[-1].position

    def head(self) -> tuple[int, bytes]:
        with autocommit_connection(self.pool) as conn:
            row = conn.execute(
                "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
            ).fetchone()
        return (row[0], bytes(row[1])) if row else (0, GENESIS_HASH)

    # -- auditing ------------------------------------------------------------------------

    def verify(self, batch: int = 20000, progress=None) -> VerifyReport:
        """Walk the whole log in position order and recompute every hash.

        Names the first position where the chain breaks: a changed byte, a gap or reordered
        positions, an inserted or removed event. ``progress(n)`` is told how many rows were read.
        """
        previous, expected_position, checked = GENESIS_HASH, 1, 0
        with self.pool.connection() as conn:
            with conn.transaction():
                cur = conn.cursor(name="verify_log", row_factory=tuple_row)
                cur.itersize = batch
                cur.execute(
                    f"SELECT position, version, hash, {CANONICAL_SQL} FROM events ORDER BY position"
                )
                for position, version, stored, text in cur:
                    if position != expected_position:
                        problem = (
                            f"position {expected_position} is missing"
                            if position > expected_position
                            else f"position {position} is out of order"
                        )
                        return VerifyReport(
                            False, checked, position, previous, expected_position, problem
                        )
                    computed = chain_hash(previous, position, version, digest_of_text(text))
                    if computed != bytes(stored):
                        return VerifyReport(
                            False,
                            checked,
                            position,
                            previous,
                            position,
                            "hash mismatch: the event or one before it was altered",
                        )
                    previous = computed
                    expected_position += 1
                    checked += 1
                    if progress is not None and checked % batch == 0:
                        progress(batch)
                cur.close()
        return VerifyReport(True, checked, expected_position - 1, previous)
