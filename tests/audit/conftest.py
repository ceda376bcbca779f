"""Fixtures of the audit tests: a fresh core database, a manual clock, a tamperer."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from shared.clock import ManualClock
from shared.domain import NewEvent
from shared.eventstore import PostgresEventStore


@pytest.fixture
def dsn(databases) -> str:
    return databases.create("core")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(dsn, clock) -> Iterator[PostgresEventStore]:
    s = PostgresEventStore.connect(dsn, clock=clock, max_size=2)
    yield s
    s.close()


def fill_log(store: PostgresEventStore, clock: ManualClock, count: int = 12) -> None:
    """``count`` events over three streams, one append per event, a second apart."""
    for n in range(1, count + 1):
        store.append([NewEvent("Noted", {"n": n, "note": f"note {n}"}, stream=f"note-{n % 3}")])
        clock.advance(seconds=1)


def tamper(dsn: str, *statements: str, params=None) -> None:
    """Run ``statements`` as the database owner with the append-only triggers bypassed."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET session_replication_role = replica")
        for statement in statements:
            conn.execute(statement, params)
