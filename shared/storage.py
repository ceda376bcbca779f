"""The event store as a nameko dependency, with idempotent commands and consumers.

    class EscrowService:
        name = "escrow"
        store = EventStore(projections=[ContractsView()], upcasters=UPCASTERS)

        @rpc
        def fund_milestone(self, ...):
            return self.store.command("fund_milestone", args, key, actor, run)

At start-up the provider creates the service's database if needed and applies its
migrations. Each worker gets a ``Storage`` whose transactions carry the worker's
correlation id, causation id and actor in every event's metadata.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from nameko.extensions import DependencyProvider
from psycopg.types.json import Jsonb

from shared.clock import clock_from_config
from shared.config import flag
from shared.errors import ConcurrencyError, Conflict, MarketplaceError
from shared.eventstore import PostgresEventStore, Projection, UnitOfWork, Upcasters
from shared.eventstore.postgres import autocommit_connection
from shared.eventstore.upcasting import NO_UPCASTERS
from shared.migrate import ensure_database, migrate

log = logging.getLogger(__name__)

COMMAND_ATTEMPTS = 8


def request_hash(method: str, args: Mapping) -> bytes:
    """A stable digest of a command's name and validated arguments."""
    return hashlib.sha256(
        json.dumps([method, args], sort_keys=True, separators=(",", ":"), default=str).encode()
    ).digest()


def retry_on_conflict(fn: Callable[[], Any], attempts: int = COMMAND_ATTEMPTS) -> Any:
    """Run ``fn`` again (it reloads its aggregates) when a stream moved on under it."""
    for attempt in range(attempts):
        try:
            return fn()
        except ConcurrencyError:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.004 * (2**attempt)))


# A pooled connection in autocommit for one read: no BEGIN and COMMIT round trips.
read_connection = autocommit_connection


class Storage:
    """What a worker sees: transactions, idempotent commands, once-only event handling."""

    def __init__(self, store: PostgresEventStore, metadata: dict):
        self.store = store
        self.metadata = metadata
        self.clock = store.clock

    @contextmanager
    def transaction(self, metadata: Mapping | None = None) -> Iterator[UnitOfWork]:
        with self.store.transaction({**self.metadata, **(metadata or {})}) as uow:
            yield uow

    def reading(self):
        """A unit of work for reads only, without a transaction (``store.reading``)."""
        return self.store.reading()

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        """Read from the service's read models (not in a command's transaction)."""
        with read_connection(self.store.pool) as conn:
            return conn.execute(sql, params).fetchall()

    def query_dicts(self, sql: str, params: Any = None) -> list[dict]:
        with read_connection(self.store.pool) as conn:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            return cur.execute(sql, params).fetchall()

    def command(
        self,
        method: str,
        args: Mapping,
        run: Callable[[UnitOfWork], Any],
        *,
        idempotency_key: str | None = None,
        actor: str | None = None,
    ) -> Any:
        """Run a command in one transaction, retried on concurrency conflicts.

        With an idempotency key, the JSON result is stored with the effect; the same key
        and arguments later return that first result, and the same key with other
        arguments is a Conflict. The key is scoped to the caller and the method.
        """
        digest = request_hash(method, args)
        scoped = f"{actor or '-'}:{method}:{idempotency_key}" if idempotency_key else None
        meta = {"idempotency_key": idempotency_key} if idempotency_key else {}
        if actor:
            meta["actor"] = actor

        def attempt():
            if scoped:
                found = self._stored_result(scoped, digest)
                if found is not None:
                    return found[0]
            try:
                with self.transaction(meta) as uow:
                    result = run(uow)
                    if scoped:
                        uow.execute(
                            "INSERT INTO command_results (key, request_hash, result) VALUES (%s, %s, %s)",
                            (scoped, digest, Jsonb(result)),
                        )
                    return result
            except psycopg.errors.UniqueViolation as exc:
                if scoped and exc.diag.table_name == "command_results":
                    # a twin request under the same key committed first: answer as it did
                    found = self._stored_result(scoped, digest)
                    if found is not None:
                        return found[0]
                raise
            except MarketplaceError as exc:
                # A twin under the same key (a request redelivered after a crash, and the
                # caller's retry) may commit between our look-up and our run; our run then
                # refuses what the twin already did ("offer not pending"). Answer with the
                # twin's result rather than that refusal.
                if scoped and not isinstance(exc, ConcurrencyError):
                    found = self._stored_result(scoped, digest)
                    if found is not None:
                        return found[0]
                raise

        return retry_on_conflict(attempt)

    def _stored_result(self, key: str, digest: bytes) -> tuple[Any] | None:
        rows = self.query("SELECT request_hash, result FROM command_results WHERE key = %s", (key,))
        if not rows:
            return None
        stored_hash, result = rows[0]
        if bytes(stored_hash) != digest:
            raise Conflict(
                "idempotency key reused with different arguments", {"idempotency_key": key}
            )
        return (result,)

    def handle_once(
        self, consumer: str, event_id: str, run: Callable[[UnitOfWork], Any], metadata=None
    ) -> bool:
        """Apply a consumed event's effect unless ``consumer`` already did; True if applied.

        The (consumer, event id) row is written in the same transaction as the effect, so a
        redelivered or replayed event is acknowledged and skipped.
        """

        def attempt():
            with self.transaction(metadata) as uow:
                inserted = uow.execute(
                    "INSERT INTO processed_events (consumer, event_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (consumer, event_id),
                ).rowcount
                if not inserted:
                    return False
                run(uow)
                return True

        return retry_on_conflict(attempt)


class EventStore(DependencyProvider):
    """Provides ``Storage`` to workers. Config: ``DB_DSN``, ``DB_POOL_MIN``, ``DB_POOL_MAX``,
    ``DB_MIGRATE_ON_START`` (default true), ``CLOCK``."""

    def __init__(self, projections: Sequence[Projection] = (), upcasters: Upcasters = NO_UPCASTERS):
        self.projections = list(projections)
        self.upcasters = upcasters
        self.store: PostgresEventStore | None = None

    def setup(self):
        config = self.container.config
        dsn = config["DB_DSN"]
        if flag(config, "DB_MIGRATE_ON_START"):
            ensure_database(dsn)
            migrate(dsn, self.container.service_name)
        self.store = PostgresEventStore.connect(
            dsn,
            min_size=int(config.get("DB_POOL_MIN", 1)),
            max_size=int(config.get("DB_POOL_MAX", 12)),
            clock=clock_from_config(config),
            upcasters=self.upcasters,
            projections=self.projections,
        )

    def stop(self):
        if self.store is not None:
            self.store.close()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx) -> Storage:
        data = worker_ctx.data
        stack = worker_ctx.call_id_stack
        metadata = {
            "correlation_id": data.get("correlation_id")
            or (stack[0] if stack else worker_ctx.call_id),
            "causation_id": data.get("causation_id") or worker_ctx.call_id,
        }
        return Storage(self.store, metadata)
