"""The outbox relay: publishes a service's event log to RabbitMQ, in position order.

The log is the outbox. The relay reads events after its stored position, publishes each to
the service's ``<service>.events`` topic exchange (routing key = event type), persistent,
in nameko's event format so ``@event_handler`` consumers receive them, waits for the
broker's publisher confirms for the whole batch, and only then stores the new position. A
crash between publishing and storing re-publishes that batch; consumers drop the repeats
by event id.

Only one relay per service is active among replicas: the one holding a session-level
advisory lock on its own connection. If that process dies, its connection and lock go
with it and another replica takes over. The relay wakes on NOTIFY ``events_appended`` and
polls as a fallback.

While it leads, the relay keeps its position in memory (no other relay writes it) and writes
it with ``synchronous_commit = off``: a position lost to a database crash only republishes
events the consumers already skip, and the relay does not wait for a WAL flush per batch.
For the same reason a relay may write its position at most once per ``save_interval``
seconds (``RELAY_POSITION_SAVE_INTERVAL`` in a service, 0.2 by default): under a steady
stream of commits, each a batch of its own, that is one write in a fifth of a second rather
than one per commit; when the log goes quiet the last position is written once the interval
is up, and when the relay stops. A relay that dies in between leaves its successor to
republish at most that interval's events, which the consumers skip.
"""

from __future__ import annotations

import json
import logging
import select
import time
import zlib

import amqp
import psycopg
from nameko.extensions import DependencyProvider

from shared.channel import publishing_connection
from shared.config import flag
from shared.eventstore.hashing import canonical_time

log = logging.getLogger(__name__)

_RELAY_LOCK_BASE = 7420100


class RelayError(RuntimeError):
    pass


class ConfirmingPublisher:
    """Publishes a batch of messages and waits until the broker confirmed all of them."""

    def __init__(self, amqp_uri: str, exchange: str):
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self.conn: amqp.Connection | None = None
        self.channel = None
        self._acked = 0
        self._nacked = False

    def _open(self) -> None:
        self.conn = publishing_connection(self.amqp_uri)
        self.channel = self.conn.channel()
        self.channel.exchange_declare(self.exchange, "topic", durable=True, auto_delete=False)
        self.channel.confirm_select()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self._sent = 0
        self._acked = 0
        self._acked_singly: set[int] = set()

    def _on_ack(self, tag: int, multiple: bool) -> None:
        # confirms may arrive one by one and out of order; count only a contiguous prefix
        if multiple:
            self._acked = max(self._acked, tag)
        else:
            self._acked_singly.add(tag)
        while self._acked + 1 in self._acked_singly:
            self._acked += 1
            self._acked_singly.discard(self._acked)
        self._acked_singly = {t for t in self._acked_singly if t > self._acked}

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._nacked = True

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # the connection may already be gone
                pass
        self.conn = self.channel = None

    def publish_batch(self, messages: list[tuple[str, bytes, dict]], timeout: float = 30.0) -> None:
        """Publish ``(routing_key, body, headers)`` messages; return once all are confirmed."""
        if self.conn is None:
            self._open()
        self._nacked = False
        try:
            for routing_key, body, headers in messages:
                msg = amqp.Message(
                    body,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    application_headers=headers,
                )
                self.channel.basic_publish(msg, exchange=self.exchange, routing_key=routing_key)
                self._sent += 1
            deadline = time.monotonic() + timeout
            while self._acked < self._sent:
                if self._nacked:
                    raise RelayError("the broker refused a message")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RelayError("timed out waiting for publisher confirms")
                self.conn.drain_events(timeout=remaining)
            if self._nacked:
                raise RelayError("the broker refused a message")
        except Exception:
            self.close()
            raise


# The message body, built by PostgreSQL so the relay does no JSON work per event.
ENVELOPE_SQL = (
    "json_build_object('event_id', event_id, 'stream', stream, 'version', version,"
    " 'position', position, 'type', type, 'schema_version', schema_version, 'data', data,"
    " 'metadata', metadata,"
    " 'recorded_at', to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text"
)


def encode_event(row: tuple) -> tuple[str, bytes, dict]:
    """An events row as a nameko event message: routing key, JSON body, headers.

    ``row`` is (stream, version, position, event_id, type, schema_version, data, metadata,
    recorded_at), as read by a store; the relay itself has PostgreSQL build the body.
    """
    stream, version, position, event_id, type_, schema_version, data, metadata, recorded_at = row
    body = json.dumps(
        {
            "event_id": str(event_id),
            "stream": stream,
            "version": version,
            "position": position,
            "type": type_,
            "schema_version": schema_version,
            "data": data,
            "metadata": metadata,
            "recorded_at": canonical_time(recorded_at),
        },
        separators=(",", ":"),
    ).encode()
    return (
        type_,
        body,
        message_headers(str(event_id), metadata.get("correlation_id"), metadata.get("actor")),
    )


def message_headers(event_id: str, correlation_id: str | None, actor: str | None) -> dict:
    headers = {"nameko.correlation_id": str(correlation_id or event_id)}
    if actor:
        headers["nameko.actor"] = str(actor)
    return headers


class EventRelay:
    """The relay of one service's log; usable inside a nameko service or on its own."""

    def __init__(
        self,
        dsn: str,
        amqp_uri: str,
        service: str,
        *,
        private_types: frozenset[str] | set[str] = frozenset(),
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        save_interval: float = 0.0,
    ):
        self.dsn = dsn
        self.service = service
        self.relay_name = f"{service}.events"
        self.private_types = list(private_types)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.save_interval = save_interval
        self.publisher = ConfirmingPublisher(amqp_uri, f"{service}.events")
        self.lock_key = _RELAY_LOCK_BASE + zlib.crc32(service.encode()) % 100000
        self.conn: psycopg.Connection | None = None
        self.is_leader = False
        self.published = 0
        self.stopping = False
        self._position: int | None = None  # the published position, known while leading
        self._saved: int | None = None  # the position last written
        self._saved_at = 0.0  # when (time.monotonic)
        self._notified = False  # a NOTIFY arrived while a query of ours was running

    # -- the database side ---------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.dsn, autocommit=True)
            self.conn.execute("SET synchronous_commit = off")
            # a NOTIFY that arrives while one of the relay's queries runs reaches this
            # handler, which makes drain read again; without it a commit announced while
            # the relay was busy would wait for the poll
            self.conn.add_notify_handler(self._on_notify)
            self.conn.execute("LISTEN events_appended")
            self.is_leader = False
            # the lock went with the old connection; others may have led
            self._position = self._saved = None
        return self.conn

    def _on_notify(self, _notify) -> None:
        self._notified = True

    def try_lead(self) -> bool:
        """Become the active relay of this service if no other replica is."""
        conn = self._connect()
        if not self.is_leader:
            self.is_leader = conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (self.lock_key,)
            ).fetchone()[0]
        return self.is_leader

    def position(self) -> int:
        row = (
            self._connect()
            .execute("SELECT position FROM relay_position WHERE relay = %s", (self.relay_name,))
            .fetchone()
        )
        return row[0] if row else 0

    def _save_position(self, position: int) -> None:
        self._connect().execute(
            "INSERT INTO relay_position (relay, position) VALUES (%s, %s) "
            "ON CONFLICT (relay) DO UPDATE SET position = excluded.position, updated_at = now()",
            (self.relay_name, position),
        )
        self._position = self._saved = position
        self._saved_at = time.monotonic()

    def _advance(self, position: int) -> None:
        """The broker confirmed up to ``position``: write it now, or once the interval is up."""
        self._position = position
        if time.monotonic() - self._saved_at >= self.save_interval:
            self._save_position(position)

    def _save_due_in(self) -> float | None:
        """Seconds until the unwritten position is due to be written (None: nothing is)."""
        if self._position is None or self._position == self._saved:
            return None
        return self._saved_at + self.save_interval - time.monotonic()

    def _wait_after_drain(self) -> float:
        """Write a held-back position that is due; then how long to wait for appends (not
        past the moment a still held-back one falls due)."""
        due = self._save_due_in()
        if due is None:
            return self.poll_interval
        if due <= 0:
            self._save_position(self._position)
            return self.poll_interval
        return min(self.poll_interval, due)

    def save_pending_position(self) -> None:
        """Write the published position if the relay has not yet (it leads and it moved)."""
        if self.is_leader and self._save_due_in() is not None:
            self._save_position(self._position)

    def lag(self) -> int:
        """How many events are in the log but not yet confirmed by the broker."""
        head = (
            self._connect().execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]
        )
        return head - self.position()

    # -- publishing ----------------------------------------------------------------------

    def publish_pending(self) -> int:
        """Publish one batch after the stored position; returns how many events it covered."""
        if not self.try_lead():
            return 0
        if self._position is None:
            self._position = self._saved = self.position()
        start = self._position
        rows = (
            self._connect()
            .execute(
                f"SELECT position, type, event_id::text, metadata->>'correlation_id', metadata->>'actor', {ENVELOPE_SQL}"
                " FROM events WHERE position > %s ORDER BY position LIMIT %s",
                (start, self.batch_size),
            )
            .fetchall()
        )
        if not rows:
            return 0
        messages = [
            (type_, body.encode(), message_headers(event_id, correlation_id, actor))
            for _, type_, event_id, correlation_id, actor, body in rows
            if type_ not in self.private_types
        ]
        if messages:
            self.publisher.publish_batch(messages)
        self._advance(rows[-1][0])
        self.published += len(messages)
        return len(rows)

    def drain(self) -> int:
        """Publish until the relay has caught up with the log.

        A batch shorter than ``batch_size`` reached the end of the log as its query saw it;
        a commit after that query announces itself by NOTIFY, either during the relay's own
        later queries (``_on_notify``: the loop reads again) or on the idle socket
        (``_wait_for_appends``), so no second, empty query is needed to know it caught up.
        """
        total = 0
        while True:
            self._notified = False
            n = self.publish_pending()
            total += n
            if not self.is_leader or (n < self.batch_size and not self._notified):
                return total

    def _wait_for_appends(self, timeout: float) -> None:
        conn = self._connect()
        # select keeps this green under eventlet. What arrived on the idle socket is read
        # and dropped at the libpq level: a notification only says "read the log", and
        # psycopg's notifies() is not to be mixed with the handler above.
        ready, _, _ = select.select([conn.fileno()], [], [], timeout)
        if ready:
            pgconn = conn.pgconn
            pgconn.consume_input()
            while pgconn.notifies() is not None:
                pass

    def run(self) -> None:
        """Publish forever (until ``stop``): catch up, then wait for NOTIFY or the poll."""
        backoff = 0.5
        try:
            self._run(backoff)
        finally:
            try:
                self.save_pending_position()
            except Exception as exc:  # the database is gone: the successor republishes
                log.warning("relay %s: position not saved on stop: %s", self.service, exc)
            self.close()

    def _run(self, backoff: float) -> None:
        while not self.stopping:
            try:
                if not self.try_lead():
                    self._wait_for_appends(self.poll_interval * 2)
                    continue
                self.drain()
                self._wait_for_appends(self._wait_after_drain())
                backoff = 0.5
            except Exception as exc:  # broker or database gone: retry with backoff
                if self.stopping:
                    break
                log.warning("relay %s: %s; retrying in %.1fs", self.service, exc, backoff)
                self.close()
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)

    def stop(self) -> None:
        self.stopping = True

    def close(self) -> None:
        self.publisher.close()
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None
        self.is_leader = False


class Relay(DependencyProvider):
    """Runs the service's relay inside its nameko container.

    Declared on a service as ``relay = Relay(private_types=...)``; the worker gets the
    relay object (for health and lag). Config: ``DB_DSN``, ``AMQP_URI``,
    ``RELAY_ENABLED`` (default true), ``RELAY_POLL_INTERVAL`` seconds (default 1),
    ``RELAY_POSITION_SAVE_INTERVAL`` seconds (default 0.2; 0 writes after every batch).
    """

    def __init__(self, private_types: frozenset[str] | set[str] = frozenset()):
        self.private_types = private_types
        self.relay: EventRelay | None = None

    def setup(self):
        config = self.container.config
        self.relay = EventRelay(
            config["DB_DSN"],
            config["AMQP_URI"],
            self.container.service_name,
            private_types=self.private_types,
            poll_interval=float(config.get("RELAY_POLL_INTERVAL", 1.0)),
            save_interval=float(config.get("RELAY_POSITION_SAVE_INTERVAL", 0.2)),
        )
        self.enabled = flag(config, "RELAY_ENABLED")

    def start(self):
        if self.enabled:
            self.container.spawn_managed_thread(self.relay.run, identifier="relay")

    def stop(self):
        # the managed thread closes its connections as it ends
        self.relay.stop()

    def kill(self):
        self.relay.stop()

    def get_dependency(self, worker_ctx):
        return self.relay
