"""``as-of``: what a read model or an aggregate looked like at a past moment.

Nothing stored is trusted: the state is computed from the events recorded up to that
moment, by the service's own projections (rebuilt into a scratch schema that is dropped
afterwards) or by folding one aggregate's stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from shared.audit.replay import (
    _create_index,
    _create_scratch,
    apply_rebuild_settings,
    bulk_tables,
    projection_tables,
    read_events,
    rebuild_into,
)
from shared.domain import Aggregate
from shared.eventstore import Projection, RecordedEvent, Upcasters
from shared.eventstore.upcasting import NO_UPCASTERS

A = TypeVar("A", bound=Aggregate)


def table_as_of(
    dsn: str,
    projections: Sequence[Projection],
    when: datetime,
    table: str,
    where: Mapping[str, Any] | None = None,
    upcasters: Upcasters = NO_UPCASTERS,
) -> list[dict[str, Any]]:
    """Rows of read-model ``table`` (optionally filtered by equal columns) as they were at
    ``when``, rebuilt from the events recorded up to then; ordered by every column."""
    if table not in projection_tables(projections):
        raise ValueError(f"no projection owns table {table!r}")
    schema = f"asof_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        try:
            deferred = _create_scratch(
                conn, schema, projection_tables(projections), bulk_tables(projections)
            )
            conn.execute(
                sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema))
            )
            apply_rebuild_settings(conn)
            rebuild_into(conn, projections, upcasters, until=when)
            for unique, name, tail in deferred:
                _create_index(conn, schema, name, unique, tail)
            filters = list((where or {}).items())
            condition = sql.SQL(" AND ").join(
                sql.SQL("{} = %s").format(sql.Identifier(column)) for column, _ in filters
            )
            cur = conn.cursor(row_factory=dict_row)
            cur.execute(
                sql.SQL("SELECT * FROM {} {} ORDER BY 1").format(
                    sql.Identifier(schema, table),
                    sql.SQL("WHERE ") + condition if filters else sql.SQL(""),
                ),
                [value for _, value in filters],
            )
            rows = cur.fetchall()
        finally:
            conn.rollback()  # the scratch schema goes with the transaction
    return rows


def stream_as_of(
    dsn: str, stream: str, when: datetime, upcasters: Upcasters = NO_UPCASTERS
) -> list[RecordedEvent]:
    """The events of ``stream`` recorded up to ``when``, upcast."""
    with psycopg.connect(dsn) as conn:
        events = [
            e
            for page in read_events(conn, upcasters, until=when)
            for e in page
            if e.stream == stream
        ]
        conn.rollback()
    return events


def aggregate_as_of(
    dsn: str, cls: type[A], id: str, when: datetime, upcasters: Upcasters = NO_UPCASTERS
) -> A:
    """The aggregate ``cls(id)`` folded from its events recorded up to ``when``."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT type, schema_version, data, version FROM events"
            " WHERE stream = %s AND recorded_at <= %s ORDER BY version",
            (cls.stream_for(id), when),
        ).fetchall()
    events = []
    for type_, schema_version, data, version in rows:
        _, upcast = upcasters.upcast(type_, schema_version, data)
        events.append(_Folded(type_, upcast, version))
    return cls.rehydrate(id, events)


class _Folded:
    __slots__ = ("type", "data", "version")

    def __init__(self, type_: str, data: dict, version: int):
        self.type, self.data, self.version = type_, data, version
