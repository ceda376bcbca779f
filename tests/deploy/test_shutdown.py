"""Graceful shutdown: a container told to stop lets its running workers finish, answers
their callers, and leaves every command either committed whole or not at all."""

from __future__ import annotations

import eventlet
import psycopg
import pytest
from nameko.exceptions import RpcTimeout
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy

from shared.auth import CallerProvider
from shared.domain import NewEvent
from shared.observability import LogContext, Metrics
from shared.relay import Relay
from shared.rpc import Operations
from shared.storage import EventStore

ENTERED: list[int] = []  # workers running the method
STARTED: list[int] = []  # workers past their first append


class Slow(Operations):
    name = "slow"
    store = EventStore()
    relay = Relay()
    caller = CallerProvider()
    metrics = Metrics()
    log_context = LogContext()

    @rpc
    def note_slowly(self, n: int, seconds: float) -> int:
        """Two appends in one transaction, with a pause between them."""
        ENTERED.append(n)
        with self.store.transaction() as uow:
            uow.append([NewEvent("Noted", {"n": n, "part": 1}, stream=f"note-{n}")])
            STARTED.append(n)
            eventlet.sleep(seconds)
            recorded = uow.append([NewEvent("Noted", {"n": n, "part": 2}, stream=f"note-{n}")])
            return recorded[-1].position


@pytest.fixture
def slow(container_factory, rabbit_config, databases):
    STARTED.clear()
    ENTERED.clear()
    dsn = databases.create("core")
    container = container_factory(
        Slow,
        {
            "AMQP_URI": rabbit_config["AMQP_URI"],
            "DB_DSN": dsn,
            "AUTH_FETCH_KEYS": "false",
            "RELAY_POLL_INTERVAL": 0.2,
        },
    )
    container.start()
    return container, dsn


def test_stop_waits_for_running_workers_and_answers_them(slow, rabbit_config):
    container, dsn = slow

    def call(n):
        with ServiceRpcProxy("slow", rabbit_config, timeout=20) as proxy:
            return proxy.note_slowly(n=n, seconds=1.0)

    calls = [eventlet.spawn(call, n) for n in (1, 2, 3)]
    # all three in flight: one inside its transaction, two waiting for the append lock
    while len(ENTERED) < 3 or not STARTED:
        eventlet.sleep(0.01)
    assert len(STARTED) == 1
    container.stop()  # returns once the three workers are done
    results = sorted(c.wait() for c in calls)
    assert results == [2, 4, 6]
    with psycopg.connect(dsn, autocommit=True) as conn:
        streams = conn.execute(
            "SELECT stream, count(*) FROM events GROUP BY stream ORDER BY stream"
        ).fetchall()
    assert streams == [("note-1", 2), ("note-2", 2), ("note-3", 2)]


def test_a_killed_worker_leaves_nothing_half_written(slow, rabbit_config):
    container, dsn = slow

    def call():
        with ServiceRpcProxy("slow", rabbit_config, timeout=3) as proxy:
            return proxy.note_slowly(n=9, seconds=0.5)

    pending = eventlet.spawn(call)
    while not STARTED:
        eventlet.sleep(0.01)
    # mid-transaction, one append done: what SIGKILL after the grace period amounts to
    container.kill()
    with pytest.raises(RpcTimeout):
        pending.wait()
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0
