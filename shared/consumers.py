"""Consuming other services' events without ever losing one.

nameko's ``@event_handler`` acknowledges a message whose handler raised, which loses it.
``consume`` replaces it:

    @consume("bidding", "OfferAccepted", schema=OfferAcceptedData)
    def open_contract(self, uow, event):
        ...   # runs once per event id, in one transaction with the (consumer, event id) row

- The message body is the relay's envelope; the envelope and the event's data are validated
  (``schema``: unknown fields rejected). A malformed event is parked at once.
- The effect and the tracking row commit together (``Storage.handle_once``): a repeated or
  replayed event is acknowledged and skipped.
- A handler that raises is retried after a delay through per-attempt retry queues (queue TTL,
  dead-lettered back to the handler's own queue), and after ``CONSUMER_MAX_ATTEMPTS`` attempts
  (default 3) it is parked in the ``dead_letters`` table for an operator to list and replay.
- If the retry or the parking cannot be done (broker or database down), the message is
  requeued rather than acknowledged.
"""

from __future__ import annotations

import functools
import json
import logging
import traceback
from dataclasses import dataclass
from typing import Any

import psycopg
from kombu import Exchange, Queue
from marshmallow import Schema, fields, validate
from nameko.amqp.publish import Publisher
from nameko.events import EventHandler

from shared.errors import ValidationError
from shared.schemas import BaseSchema, load

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-marketplace-attempts"
DEFAULT_RETRY_DELAYS_MS = (500, 2000)


class EnvelopeSchema(BaseSchema):
    event_id = fields.UUID(required=True)
    stream = fields.String(required=True, validate=validate.Length(min=1, max=200))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    position = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    schema_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    data = fields.Dict(required=True)
    metadata = fields.Dict(required=True)
    recorded_at = fields.AwareDateTime(required=True)


# one instance for every message: it holds no state between loads, and building a schema
# costs more than a load
_ENVELOPE = EnvelopeSchema()


@dataclass(frozen=True)
class ConsumedEvent:
    event_id: str
    source: str
    stream: str
    version: int
    position: int
    type: str
    schema_version: int
    data: dict
    metadata: dict
    recorded_at: Any

    @property
    def correlation_id(self) -> str:
        return self.metadata.get("correlation_id") or self.event_id


class PoisonMessage(Exception):
    """The message can never be handled as it is; park it without retrying."""


def parse_event(source: str, body: Any, data_schema: Schema | None) -> ConsumedEvent:
    try:
        envelope = load(_ENVELOPE, body)
        data = load(data_schema, envelope["data"]) if data_schema is not None else envelope["data"]
    except ValidationError as exc:
        raise PoisonMessage(f"malformed event: {exc.details}") from None
    return ConsumedEvent(
        event_id=str(envelope["event_id"]),
        source=source,
        stream=envelope["stream"],
        version=envelope["version"],
        position=envelope["position"],
        type=envelope["type"],
        schema_version=envelope["schema_version"],
        data=data,
        metadata=envelope["metadata"],
        recorded_at=envelope["recorded_at"],
    )


class ReliableEventHandler(EventHandler):
    """An event handler entrypoint whose failures are retried and then parked, never lost."""

    def setup(self):
        super().setup()
        config = self.container.config
        self.max_attempts = int(config.get("CONSUMER_MAX_ATTEMPTS", 3))
        delays = config.get("CONSUMER_RETRY_DELAYS_MS", DEFAULT_RETRY_DELAYS_MS)
        if isinstance(delays, str):
            delays = [int(d) for d in delays.split(",") if d.strip()]
        self.retry_delays = list(delays) or list(DEFAULT_RETRY_DELAYS_MS)
        self.publisher = Publisher(config["AMQP_URI"], use_confirms=True)
        self.dsn = config.get("DB_DSN")
        self.consumer_name = f"{self.container.service_name}.{self.method_name}"

    def retry_queue(self, attempt: int) -> Queue:
        delay = self.retry_delays[min(attempt, len(self.retry_delays)) - 1]
        return Queue(
            f"{self.queue.name}.retry.{attempt}",
            exchange=Exchange(""),
            routing_key=f"{self.queue.name}.retry.{attempt}",
            durable=True,
            queue_arguments={
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.queue.name,
            },
            no_declare=False,
        )

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return result, exc_info
        try:
            attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0)) + 1
            poison = isinstance(exc_info[1], PoisonMessage | ValidationError)
            if poison or attempts >= self.max_attempts:
                self.park(message, exc_info, attempts)
            else:
                self.schedule_retry(message, attempts)
        except Exception:
            log.exception(
                "%s: could not retry or park a failed message; requeueing it", self.consumer_name
            )
            self.queue_consumer.requeue_message(message)
            return result, exc_info
        self.queue_consumer.ack_message(message)
        return result, exc_info

    def schedule_retry(self, message, attempts: int) -> None:
        queue = self.retry_queue(attempts)
        headers = dict(message.headers or {})
        headers[ATTEMPTS_HEADER] = attempts
        headers.pop("x-death", None)
        self.publisher.publish(
            message.body,
            exchange=Exchange(""),
            routing_key=queue.name,
            declare=[queue],
            headers=headers,
            serializer="raw" if isinstance(message.body, bytes) else "json",
            content_type=message.content_type,
        )

    def park(self, message, exc_info, attempts: int) -> None:
        body = (
            message.payload
            if not isinstance(message.payload, bytes)
            else {"raw": message.body.decode("utf-8", "replace")}
        )
        event_id = body.get("event_id") if isinstance(body, dict) else None
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        headers = {k: v for k, v in (message.headers or {}).items() if k != "x-death"}
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO dead_letters (consumer, queue, routing_key, event_id, body, headers, error, attempts)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    self.consumer_name,
                    self.queue.name,
                    self.event_type,
                    _uuid_or_none(event_id),
                    psycopg.types.json.Jsonb(body),
                    psycopg.types.json.Jsonb(json.loads(json.dumps(headers, default=str))),
                    error[:4000],
                    attempts,
                ),
            )
        log.warning(
            "%s: parked event %s after %d attempts: %s",
            self.consumer_name,
            event_id,
            attempts,
            error,
        )


def _uuid_or_none(value):
    import uuid

    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def consume(source_service: str, event_type: str, schema: Schema | type[Schema] | None = None):
    """Decorate ``method(self, uow, event)`` to handle ``event_type`` from ``source_service``.

    The service must declare its ``EventStore`` dependency as ``store``. The method runs once
    per event id, inside the transaction that records it as processed.
    """
    data_schema = schema() if isinstance(schema, type) else schema

    def decorate(fn):
        consumer = fn.__name__

        @functools.wraps(fn)
        def handler(self, body):
            event = parse_event(source_service, body, data_schema)
            metadata = {"correlation_id": event.correlation_id, "causation_id": event.event_id}
            return self.store.handle_once(
                consumer, event.event_id, lambda uow: fn(self, uow, event), metadata=metadata
            )

        return ReliableEventHandler.decorator(source_service, event_type)(handler)

    return decorate


def replay_dead_letter(dsn: str, amqp_uri: str, letter_id: int) -> bool:
    """Send a parked message back to its handler's queue, its attempts counted afresh.

    Marked replayed first, so two operators replaying at once send it once; if the broker
    refuses, the mark is undone. A replay of an already handled event is skipped by the
    handler's tracking row, so replaying is always safe.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "UPDATE dead_letters SET replayed_at = now() WHERE id = %s AND replayed_at IS NULL"
            " RETURNING queue, body, headers",
            (letter_id,),
        ).fetchone()
        if row is None:
            return False
        queue, body, headers = row
        headers = {k: v for k, v in headers.items() if k != ATTEMPTS_HEADER}
        try:
            Publisher(amqp_uri, use_confirms=True).publish(
                body, exchange=Exchange(""), routing_key=queue, headers=headers, serializer="json"
            )
        except Exception:
            conn.execute("UPDATE dead_letters SET replayed_at = NULL WHERE id = %s", (letter_id,))
            raise
    return True


def list_dead_letters(dsn: str, include_replayed: bool = False, limit: int = 100) -> list[dict]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute(
            "SELECT id, consumer, queue, routing_key, event_id::text AS event_id, error, attempts,"
            " parked_at, replayed_at, body FROM dead_letters"
            + ("" if include_replayed else " WHERE replayed_at IS NULL")
            + " ORDER BY id LIMIT %s",
            (limit,),
        ).fetchall()
