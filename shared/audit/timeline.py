"""``timeline``: the story of a contract, a job or a user across every service's log.

An event belongs to the story when its stream or data names the subject; the events that
share a correlation id with those, in any service's log (the rest of the same command's
ripple), join it. The services' entries are merged by time, then service and position.
Each entry carries the money its data names and, for escrow, the ledger postings it makes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
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
    # (account, signed amount, currency): the ledger postings the event makes, for a
    # service that keeps a ledger (escrow)
    postings: tuple[tuple[str, int, str], ...] = ()

    def describe(self) -> str:
        money = ", ".join(f"{k} {a} {c}" for k, a, c in self.money)
        posted = ", ".join(f"{acc} {a:+d} {c}" for acc, a, c in self.postings)
        who = self.actor or "-"
        return (
            f"{self.recorded_at.isoformat()} {self.service}#{self.position} {self.type}"
            f" on {self.stream} by {who}"
            + (f" [{money}]" if money else "")
            + (f" posted: {posted}" if posted else "")
        )


def postings_of(service: str, event_type: str, data: dict) -> tuple[tuple[str, int, str], ...]:
    """The ledger postings of one event, by the service's own rules (escrow's ledger);
    none for other services, or for data the rules cannot read."""
    if service != "escrow":
        return ()
    from services.escrow.ledger import postings_for

    try:
        return tuple((p.account, p.amount, p.currency) for p in postings_for(event_type, data))
    except (KeyError, TypeError):
        return ()


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


def _direct(conn: psycopg.Connection, subject: str) -> list[tuple]:
    like = f"%{subject}%"
    return conn.execute(
        f"{_SELECT} WHERE stream LIKE %s OR data::text LIKE %s ORDER BY position", (like, like)
    ).fetchall()


def _correlated(conn: psycopg.Connection, correlations: list[str]) -> list[tuple]:
    if not correlations:
        return []
    return conn.execute(
        f"{_SELECT} WHERE metadata->>'correlation_id' = ANY(%s) ORDER BY position",
        (correlations,),
    ).fetchall()


def _entries(service: str, rows: list[tuple]) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            service,
            p,
            at,
            stream,
            type_,
            actor,
            corr,
            data,
            tuple(money_in(data)),
            postings_of(service, type_, data),
        )
        for p, at, stream, type_, actor, corr, data in rows
    ]


def service_timeline(
    service: str, dsn: str, subject: str, correlations: Iterable[str] = ()
) -> list[TimelineEntry]:
    """The entries of one service's log about ``subject``: those naming it, and those
    sharing a correlation id with them or with ``correlations`` (found in other logs)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        rows = _direct(conn, subject)
        wanted = sorted({r[5] for r in rows if r[5]} | set(correlations))
        seen = {r[0] for r in rows}
        rows += [r for r in _correlated(conn, wanted) if r[0] not in seen]
        conn.rollback()
    return _entries(service, rows)


def timeline(sources: Mapping[str, str], subject: str) -> list[TimelineEntry]:
    """Entries about ``subject`` from every service (name -> DSN), merged by time.

    A command's ripple crosses services under one correlation id (bidding's
    ``OfferAccepted`` and the ``ContractOpened`` escrow records on consuming it, say), so
    the correlation ids of the events naming the subject in *any* log are followed in
    *every* log."""
    correlations: set[str] = set()
    for dsn in sources.values():
        with psycopg.connect(dsn) as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            correlations |= {r[5] for r in _direct(conn, subject) if r[5]}
            conn.rollback()
    entries: list[TimelineEntry] = []
    for service, dsn in sources.items():
        entries += service_timeline(service, dsn, subject, correlations)
    entries.sort(key=lambda e: (e.recorded_at, e.service, e.position))
    return entries
