"""``replay``: rebuild a service's read models from position 0 and compare with the live ones.

The rebuild happens in a scratch schema ``replay_<random>`` holding an empty copy
(``LIKE ... INCLUDING ALL``) of every table the projections name. With
``search_path = replay_<random>, public`` the projections' unqualified SQL writes into the
copies while everything else (the log, tables they only read) resolves to ``public``.
Every event of the log goes through each projection's ``apply(cur, event)``; a projection
may offer ``apply_batch(cur, events)`` instead (same effect for a run of events, e.g. with
COPY), or ``rebuild(cur, until)`` that fills its tables from ``public.events`` with
set-based SQL; replay prefers the latter, then the former. The copies are UNLOGGED (they
are thrown away) and their non-unique indexes are built after the rebuild. Then each
table is compared row by row with its live counterpart (EXCEPT ALL both ways, ordered by
every column), keyed by its primary key, and the scratch schema is dropped.

Without ``replace`` the work runs in one REPEATABLE READ transaction, so the log and the
live tables are read in the same snapshot while the service keeps writing. With
``replace`` the service's appends are held off (its append lock) and the live tables get
the rebuilt content in the same transaction.
"""

from __future__ import annotations

import gc
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from shared.eventstore import Projection, RecordedEvent, Upcasters
from shared.eventstore.postgres import APPEND_LOCK
from shared.eventstore.upcasting import NO_UPCASTERS

PAGE = 5000
# Rebuilding sorts and hashes millions of rows (balances summed, indexes built at the end);
# with the defaults (4 MB, 64 MB) those spill to disk. Local to the replay's transaction.
REBUILD_SETTINGS = {"work_mem": "256MB", "maintenance_work_mem": "512MB"}
MAX_DIFFS_PER_TABLE = 1000


@dataclass(frozen=True)
class RowDiff:
    """A row that differs: ``missing`` from the live table, ``extra`` in it, or ``changed``."""

    table: str
    kind: str
    key: dict[str, Any]
    live: dict[str, Any] | None = None
    rebuilt: dict[str, Any] | None = None

    @property
    def changed_columns(self) -> list[str]:
        if self.live is None or self.rebuilt is None:
            return []
        return [c for c in self.live if self.live[c] != self.rebuilt.get(c)]

    def describe(self) -> str:
        key = ", ".join(f"{k}={v!r}" for k, v in self.key.items())
        if self.kind == "changed":
            cols = "; ".join(
                f"{c}: live {self.live[c]!r}, rebuilt {self.rebuilt[c]!r}"
                for c in self.changed_columns
            )
            return f"{self.table} ({key}) changed: {cols}"
        if self.kind == "missing":
            return f"{self.table} ({key}) is missing from the live table"
        return f"{self.table} ({key}) is in the live table but not in the rebuild"


@dataclass
class ReplayReport:
    service: str
    events: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows rebuilt
    diffs: list[RowDiff] = field(default_factory=list)
    replaced: bool = False
    seconds_rebuild: float = 0.0
    seconds_compare: float = 0.0

    @property
    def identical(self) -> bool:
        return not self.diffs


def projection_tables(projections: Sequence[Projection]) -> list[str]:
    """Every table the projections own, each once, in the order they name them."""
    seen: list[str] = []
    for projection in projections:
        for table in projection.tables:
            if table not in seen:
                seen.append(table)
    return seen


def bulk_tables(projections: Sequence[Projection]) -> list[str]:
    """Tables filled by a projection's own set-based ``rebuild``."""
    return projection_tables([p for p in projections if getattr(p, "rebuild", None) is not None])


def _indexes(conn: psycopg.Connection, table: str) -> list[tuple[bool, str]]:
    """(unique, ``USING ...`` tail of the definition) of each index of ``public.table``."""
    found = []
    for unique, definition in conn.execute(
        "SELECT indisunique, pg_get_indexdef(indexrelid) FROM pg_index"
        " WHERE indrelid = %s::regclass ORDER BY indexrelid",
        (f"public.{table}",),
    ):
        found.append((unique, definition[definition.index(" USING ") :]))
    return found


def _create_index(conn: psycopg.Connection, schema: str, table: str, unique: bool, tail: str):
    conn.execute(
        sql.SQL("CREATE {}INDEX ON {}.{}{}").format(
            sql.SQL("UNIQUE " if unique else ""),
            sql.Identifier(schema),
            sql.Identifier(table),
            sql.SQL(tail),
        )
    )


def _create_scratch(
    conn: psycopg.Connection,
    schema: str,
    tables: Sequence[str],
    bulk: Sequence[str] = (),
) -> list[tuple[bool, str, str]]:
    """Empty copies of ``tables`` in ``schema``; returns the indexes left to build.

    Unique indexes are built at once (projections may rely on them, e.g. ON CONFLICT); the
    others are built after the rebuild, which is much cheaper than maintaining them row by
    row. Tables in ``bulk`` are filled by a projection's own ``rebuild`` in one go, so all
    their indexes wait.
    """
    deferred: list[tuple[bool, str, str]] = []
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    for table in tables:
        conn.execute(
            sql.SQL(
                "CREATE UNLOGGED TABLE {}.{} (LIKE public.{} INCLUDING ALL EXCLUDING INDEXES)"
            ).format(sql.Identifier(schema), sql.Identifier(table), sql.Identifier(table))
        )
        for unique, tail in _indexes(conn, table):
            if unique and table not in bulk:
                _create_index(conn, schema, table, True, tail)
            else:
                deferred.append((unique, table, tail))
        # serial columns would draw from the live sequence: give the copy its own, from 1
        serials = conn.execute(
            "SELECT a.attname FROM pg_attrdef d JOIN pg_attribute a"
            " ON a.attrelid = d.adrelid AND a.attnum = d.adnum"
            " WHERE d.adrelid = %s::regclass AND pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%%'",
            (f"{schema}.{table}",),
        ).fetchall()
        for (column,) in serials:
            seq = sql.Identifier(schema, f"{table}_{column}_seq")
            conn.execute(sql.SQL("CREATE SEQUENCE {}").format(seq))
            conn.execute(
                sql.SQL("ALTER TABLE {}.{} ALTER COLUMN {} SET DEFAULT nextval({})").format(
                    sql.Identifier(schema),
                    sql.Identifier(table),
                    sql.Identifier(column),
                    sql.Literal(f"{schema}.{table}_{column}_seq"),
                )
            )
    return deferred


_EVENT_COLUMNS = (
    "event_id::text, stream, version, position, type, schema_version, data::text,"
    " metadata::text, recorded_at, hash"
)


def read_events(
    conn: psycopg.Connection,
    upcasters: Upcasters = NO_UPCASTERS,
    until: datetime | None = None,
    page: int = PAGE,
) -> Iterator[list[RecordedEvent]]:
    """The log of ``public.events`` in position order, upcast, in pages.

    ``until`` keeps only events recorded at or before it. Uses a server-side cursor on
    ``conn``, so it sees the transaction's snapshot. JSON comes as text and is decoded
    here: psycopg's jsonb loader costs several times more per value, and the metadata of
    the events of one command is the same text, decoded once.
    """
    cur = conn.cursor(name=f"replay_events_{uuid.uuid4().hex[:8]}", binary=True)
    cur.itersize = page
    where = "WHERE recorded_at <= %s" if until is not None else ""
    cur.execute(
        f"SELECT {_EVENT_COLUMNS} FROM public.events {where} ORDER BY position",
        (until,) if until is not None else None,
    )
    upcast = upcasters.upcast
    loads = json.loads
    new = object.__new__
    last_meta_text, last_meta = None, None
    try:
        while rows := cur.fetchmany(page):
            batch = []
            for eid, stream, version, position, type_, sv, data, meta, at, h in rows:
                if meta != last_meta_text:
                    last_meta_text, last_meta = meta, loads(meta)
                new_sv, new_data = upcast(type_, sv, loads(data))
                event = new(RecordedEvent)
                # a frozen dataclass's __init__ sets each field through object.__setattr__,
                # the largest single cost per event; filling __dict__ gives the same object
                event.__dict__.update(
                    event_id=eid,
                    stream=stream,
                    version=version,
                    position=position,
                    type=type_,
                    schema_version=new_sv,
                    data=new_data,
                    metadata=last_meta,
                    recorded_at=at,
                    hash=h,
                )
                batch.append(event)
            yield batch
    finally:
        cur.close()


def _read_ahead(
    pages: Iterator[list[RecordedEvent]], depth: int = 3
) -> Iterator[list[RecordedEvent]]:
    """Pages of ``pages`` produced by a thread, so the server streams the next page while
    the caller's projections write the previous one."""
    out: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in pages:
                if stop.is_set():
                    break
                out.put(batch)
            out.put(done)
        except BaseException as exc:  # re-raised by the consumer
            out.put(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := out.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                out.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


def rebuild_into(
    conn: psycopg.Connection,
    projections: Sequence[Projection],
    upcasters: Upcasters = NO_UPCASTERS,
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    reader: psycopg.Connection | None = None,
) -> int:
    """Feed the log to ``projections`` on ``conn`` (whose search_path picks the tables).

    With ``reader`` (a second connection in the same snapshot) the log is read ahead by a
    thread while the projections write. A projection with ``rebuild(cur, until)`` fills its
    tables itself from ``public.events`` (set-based SQL) and is not fed events.
    """
    # a projection that rebuilds itself with set-based SQL over the log needs no events fed
    whole = [p for p in projections if getattr(p, "rebuild", None) is not None]
    fed = [p for p in projections if p not in whole]
    with conn.cursor() as cur:
        for projection in whole:
            projection.rebuild(cur, until)
    if not fed:
        return conn.execute(
            "SELECT count(*) FROM public.events"
            + (" WHERE recorded_at <= %s" if until is not None else ""),
            (until,) if until is not None else None,
        ).fetchone()[0]
    pages = (
        _read_ahead(read_events(reader, upcasters, until))
        if reader is not None
        else read_events(conn, upcasters, until)
    )
    # millions of short-lived dicts: the cyclic collector would rescan the heap over and over
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _feed(conn, fed, pages, progress)
    finally:
        if collecting:
            gc.enable()


def _feed(conn, projections, pages, progress) -> int:
    count = 0
    with conn.cursor() as cur:
        for batch in pages:
            for projection in projections:
                apply_batch = getattr(projection, "apply_batch", None)
                if apply_batch is not None:
                    apply_batch(cur, batch)
                else:
                    wanted = [e for e in batch if projection.handles(e.type)]
                    for event in wanted:
                        projection.apply(cur, event)
            count += len(batch)
            if progress is not None:
                progress(len(batch))
    return count


def _columns(conn: psycopg.Connection, table: str) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (f"public.{table}",),
        )
    ]


def _key_columns(conn: psycopg.Connection, table: str) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT a.attname FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary"
            " ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (f"public.{table}",),
        )
    ]


def compare_table(conn: psycopg.Connection, schema: str, table: str) -> list[RowDiff]:
    """Rows that differ between ``schema.table`` (rebuilt) and ``public.table`` (live)."""
    columns = _columns(conn, table)
    key = _key_columns(conn, table) or columns
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    order = sql.SQL(", ").join(sql.SQL(str(i + 1)) for i in range(len(columns)))

    def only_in(first: sql.Composable, second: sql.Composable) -> list[dict]:
        query = sql.SQL(
            "SELECT {cols} FROM {a} EXCEPT ALL SELECT {cols} FROM {b} ORDER BY {order} LIMIT {n}"
        ).format(cols=cols, a=first, b=second, order=order, n=sql.Literal(MAX_DIFFS_PER_TABLE))
        return conn.cursor(row_factory=dict_row).execute(query).fetchall()

    live_t = sql.Identifier("public", table)
    rebuilt_t = sql.Identifier(schema, table)
    live = {tuple(r[k] for k in key): r for r in only_in(live_t, rebuilt_t)}
    rebuilt = {tuple(r[k] for k in key): r for r in only_in(rebuilt_t, live_t)}
    diffs = []
    for k in sorted(set(live) | set(rebuilt), key=lambda t: tuple(map(str, t))):
        key_dict = dict(zip(key, k, strict=True))
        if k in live and k in rebuilt:
            diffs.append(RowDiff(table, "changed", key_dict, live[k], rebuilt[k]))
        elif k in rebuilt:
            diffs.append(RowDiff(table, "missing", key_dict, None, rebuilt[k]))
        else:
            diffs.append(RowDiff(table, "extra", key_dict, live[k], None))
    return diffs


def _swap_in(conn: psycopg.Connection, schema: str, table: str) -> None:
    live, rebuilt = sql.Identifier("public", table), sql.Identifier(schema, table)
    conn.execute(sql.SQL("TRUNCATE {}").format(live))
    conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(live, rebuilt))
    # live serial sequences continue after the rebuilt rows
    for seq, column in conn.execute(
        "SELECT pg_get_serial_sequence(%s, a.attname), a.attname FROM pg_attribute a"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        (f"public.{table}", f"public.{table}"),
    ).fetchall():
        if seq:
            conn.execute(
                sql.SQL(
                    "SELECT setval({}, coalesce((SELECT max({}) FROM {}), 0) + 1, false)"
                ).format(sql.Literal(seq), sql.Identifier(column), live)
            )


def apply_rebuild_settings(conn: psycopg.Connection) -> None:
    for name, value in REBUILD_SETTINGS.items():
        conn.execute(sql.SQL("SET LOCAL {} = {}").format(sql.Identifier(name), sql.Literal(value)))


def _snapshot_reader(dsn: str, snapshot: str) -> psycopg.Connection:
    """A connection that sees exactly what the transaction that exported ``snapshot`` sees."""
    reader = psycopg.connect(dsn)
    reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    reader.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    return reader


def replay_service(
    dsn: str,
    service: str,
    projections: Sequence[Projection],
    upcasters: Upcasters = NO_UPCASTERS,
    *,
    replace: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Rebuild every read model of ``service`` in a scratch schema, diff, optionally replace."""

    report = ReplayReport(service)
    tables = projection_tables(projections)
    schema = f"replay_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn) as conn:
        if replace:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            if tables:
                conn.execute(
                    sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(
                        sql.SQL(", ").join(sql.Identifier("public", t) for t in tables)
                    )
                )
        else:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        try:
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            reader = _snapshot_reader(dsn, snapshot)
            deferred = _create_scratch(conn, schema, tables, bulk_tables(projections))
            conn.execute(
                sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema))
            )
            apply_rebuild_settings(conn)
            started = time.perf_counter()
            try:
                report.events = rebuild_into(
                    conn, projections, upcasters, progress=progress, reader=reader
                )
            finally:
                reader.close()
            for unique, table, tail in deferred:
                _create_index(conn, schema, table, unique, tail)
            report.seconds_rebuild = time.perf_counter() - started
            conn.execute("SET LOCAL search_path TO public")
            started = time.perf_counter()
            for table in tables:
                report.rows[table] = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
                ).fetchone()[0]
                report.diffs += compare_table(conn, schema, table)
            report.seconds_compare = time.perf_counter() - started
            if replace:
                for table in tables:
                    _swap_in(conn, schema, table)
                report.replaced = True
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            if replace:
                conn.commit()
            else:
                conn.rollback()
        except BaseException:
            conn.rollback()
            raise
    return report
