"""``timeline``: the story of a contract, a job or a user across every service's log.

An event belongs to the story when its stream or data names the subject; the events that
share a correlation id with those (the rest of the same command's ripple) join it. The
services' entries are merged by time, then service and position.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg


@dataclass(frozen=True)
class TimelineEntry:
    service: str
    position: int
    recorded_at: datetime
    stream: str
    type: str
    actor: str | None
    correlation_id: str | None
    data: dict[str, Any]
    money: tuple[tuple[str, int, str], ...]  # (field, amount, currency) found in the data

    def describe(self) -> str:
        money = ", ".join(f"{k} {a} {c}" for k, a, c in self.money)
        who = self.actor or "-"
        return (
            f"{self.recorded_at.isoformat()} {self.service}#{self.position} {self.type}"
            f" on {self.stream} by {who}" + (f" [{money}]" if money else "")
        )


def money_in(data: Any, path: str = "") -> Iterator[tuple[str, int, str]]:
    """Every ``{"amount": int, "currency": str}`` inside ``data``, with where it sits."""
    if isinstance(data, dict):
        if isinstance(data.get("amount"), int) and isinstance(data.get("currency"), str):
            yield (path or "amount", data["amount"], data["currency"])
            return
        for key, value in data.items():
            yield from money_in(value, f"{path}.{key}" if path else key)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from money_in(value, f"{path}[{i}]")


_SELECT = (
    "SELECT position, recorded_at, stream, type, metadata->>'actor',"
    " metadata->>'correlation_id', data FROM events"
)


def service_timeline(service: str, dsn: str, subject: str) -> list[TimelineEntry]:
    """The entries of one service's log about ``subject``."""
    like = f"%{subject}%"
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        rows = conn.execute(
            f"{_SELECT} WHERE stream LIKE %s OR data::text LIKE %s ORDER BY position",
            (like, like),
        ).fetchall()
        correlations = sorted({r[5] for r in rows if r[5]})
        if correlations:
            seen = {r[0] for r in rows}
            rows += [
                r
                for r in conn.execute(
                    f"{_SELECT} WHERE metadata->>'correlation_id' = ANY(%s) ORDER BY position",
                    (correlations,),
                ).fetchall()
                if r[0] not in seen
            ]
        conn.rollback()
    return [
        TimelineEntry(service, p, at, stream, type_, actor, corr, data, tuple(money_in(data)))
        for p, at, stream, type_, actor, corr, data in rows
    ]


def timeline(sources: Mapping[str, str], subject: str) -> list[TimelineEntry]:
    """Entries about ``subject`` from every service (name -> DSN), merged by time."""
    entries: list[TimelineEntry] = []
    for service, dsn in sources.items():
        entries += service_timeline(service, dsn, subject)
    entries.sort(key=lambda e: (e.recorded_at, e.service, e.position))
    return entries
