"""Deadlines of time windows, stored with the events that start them and fired by a timer.

A command that opens a window calls ``schedule`` in its own transaction. The service's
timer entrypoint calls ``fire_due``, which takes each due deadline with
``FOR UPDATE SKIP LOCKED`` (so replicas never fire one twice), runs its handler in the same
transaction and marks it fired. Tests move the clock and call ``fire_due``; nobody sleeps
through a window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from nameko.timer import Timer
from psycopg.types.json import Jsonb

from shared.errors import ConcurrencyError, Conflict, NotFound
from shared.eventstore import UnitOfWork
from shared.storage import Storage, retry_on_conflict

log = logging.getLogger(__name__)

DeadlineHandler = Callable[[UnitOfWork, dict, datetime], Any]


def schedule(
    uow: UnitOfWork, deadline_id: str, kind: str, due_at: datetime, payload: Mapping
) -> None:
    """Store a deadline; scheduling the same id again changes nothing."""
    uow.execute(
        "INSERT INTO deadlines (id, kind, due_at, payload) VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (deadline_id, kind, due_at, Jsonb(dict(payload))),
    )


def cancel(uow: UnitOfWork, deadline_id: str) -> None:
    uow.execute(
        "UPDATE deadlines SET fired_at = now(), outcome = 'cancelled' WHERE id = %s AND fired_at IS NULL",
        (deadline_id,),
    )


def fire_due(
    storage: Storage,
    handlers: Mapping[str, DeadlineHandler],
    now: datetime | None = None,
    limit: int = 500,
) -> int:
    """Fire every deadline due at ``now`` (default: the storage clock); returns how many fired.

    A handler that raises Conflict or NotFound (the state moved on, e.g. the client approved
    before auto-approval) marks the deadline as moot; any other error leaves it due, to be
    tried on the next tick.
    """
    now = now or storage.clock.now()
    fired = 0
    skipped: list[str] = []
    while fired + len(skipped) < limit:

        def fire_one():
            with storage.transaction() as uow:
                row = uow.execute(
                    "SELECT id, kind, payload FROM deadlines WHERE fired_at IS NULL AND due_at <= %s"
                    " AND NOT (id = ANY(%s)) ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                    (now, skipped),
                ).fetchone()
                if row is None:
                    return None
                deadline_id, kind, payload = row
                handler = handlers.get(kind)
                if handler is None:
                    raise LookupError(f"no handler for deadline kind {kind!r}")
                outcome = "fired"
                try:
                    with uow.conn.transaction():  # a savepoint: a moot handler writes nothing
                        handler(uow, payload, now)
                except ConcurrencyError:
                    raise  # lost a race on the stream: retried whole, never taken as moot
                except (Conflict, NotFound) as exc:
                    outcome = f"moot: {exc}"[:500]
                uow.execute(
                    "UPDATE deadlines SET fired_at = %s, outcome = %s WHERE id = %s",
                    (now, outcome, deadline_id),
                )
                return deadline_id

        try:
            done = retry_on_conflict(fire_one)
        except Exception as exc:
            log.exception("a deadline failed and stays due: %s", exc)
            pending = storage.query(
                "SELECT id FROM deadlines WHERE fired_at IS NULL AND due_at <= %s AND NOT (id = ANY(%s))"
                " ORDER BY due_at, id LIMIT 1",
                (now, skipped),
            )
            if not pending:
                break
            skipped.append(pending[0][0])
            continue
        if done is None:
            break
        fired += 1
    return fired


def next_due(storage: Storage) -> datetime | None:
    rows = storage.query("SELECT min(due_at) FROM deadlines WHERE fired_at IS NULL")
    return rows[0][0] if rows else None


class ConfiguredTimer(Timer):
    """nameko's ``@timer`` with its interval taken from config ``TIMER_INTERVAL`` (seconds).

    nameko fixes a timer's interval when the class is defined; operators set it per deployment.
    """

    def setup(self):
        self.interval = float(self.container.config.get("TIMER_INTERVAL", self.interval))


configured_timer = ConfiguredTimer.decorator
