"""RPC helpers: validated arguments, the operator endpoints every service has, and how RPC
messages travel (replies transient and unconfirmed, ``RpcProxy`` calls transient with their
replies taken unacked; see ``ReplyPublisher`` and ``RpcProxy``).

Import the mixins through the module (``from shared import rpc as platform`` and
``class JobsService(platform.Operations, ...)``): ``nameko run some.module`` starts every
top-level class of that module that has entrypoints, and a mixin imported by name would be
taken for a service. ``marketplace run`` names the class (``module:Class``) and is immune.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from marshmallow import Schema, fields, validate
from nameko import rpc as nameko_rpc
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.messaging import QueueConsumer
from nameko.rpc import ReplyListener, Responder, RpcConsumer, get_rpc_exchange, rpc

from shared.consumers import consume, list_dead_letters, replay_dead_letter
from shared.errors import ValidationError
from shared.schemas import BaseSchema, load

log = logging.getLogger(__name__)


TRANSIENT = 1  # AMQP delivery mode: kept in memory, not written to the broker's disk


class ReplyPublisher(Publisher):
    """How an RPC reply is published: transient and without a publisher confirm.

    A reply only matters while its caller waits for it (the gateway: up to
    ``RPC_TIMEOUT_SECONDS``). A reply lost on the way, because the broker restarts at that
    moment, ends in the caller's timeout, and a command retried under the same idempotency
    key answers with its stored result. Writing every reply to disk and waiting for the
    broker's confirm would only narrow that window, at a disk write and a frame per call.
    """

    use_confirms = False
    delivery_mode = TRANSIENT


class ReplyResponder(Responder):
    publisher_cls = ReplyPublisher


def _send_reply(self: RpcConsumer, message, result, exc_info):
    """``RpcConsumer.handle_result``: the reply as above, then the request's ack.

    nameko sends a reply from the worker's thread; if the broker is away at that moment the
    publish raises, the worker thread dies with it, and nameko kills the whole container:
    the service stops serving for good although its connections would come back. Here the
    request is requeued instead (it is redelivered once the broker is back, and a command
    under the same idempotency key answers with its stored result) and the container lives
    on.
    """
    config = self.container.config
    responder = ReplyResponder(
        config[AMQP_URI_CONFIG_KEY],
        get_rpc_exchange(config),
        config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER),
        message,
        ssl=config.get(AMQP_SSL_CONFIG_KEY),
        login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
    )
    try:
        result, exc_info = responder.send_response(result, exc_info)
    except Exception as exc:  # the reply could not be published
        log.warning("could not send an RPC reply (%s); the request is requeued", exc)
        self.queue_consumer.requeue_message(message)
        return result, exc_info
    self.queue_consumer.ack_message(message)
    return result, exc_info


# Every service imports this module, so every service's RPC entrypoints reply this way.
RpcConsumer.handle_result = _send_reply


class _ReplyQueueConsumer(QueueConsumer):
    """The consumer of an RPC caller's reply queue, taking replies without acks.

    The queue is the caller's alone (its name holds a random id). A reply that reached the
    caller and was lost with a dropped connection ends in the caller's timeout, as above;
    acking every reply would cost a frame per call and the broker's bookkeeping for it.
    """

    def get_consumers(self, consumer_cls, channel):
        return super().get_consumers(functools.partial(consumer_cls, no_ack=True), channel)

    def ack_message(self, message):
        """Nothing to ack: the broker counted the reply as acked when it sent it."""


class _ReplyListener(ReplyListener):
    queue_consumer = _ReplyQueueConsumer()


class RpcProxy(nameko_rpc.RpcProxy):
    """nameko's ``RpcProxy`` with the calls sent transient and the replies taken unacked.

    Requests keep their publisher confirm: with ``mandatory`` it is how a call to a service
    that is not running fails at once (``UnknownService``) instead of timing out. They are
    not written to disk: kept over a broker restart, a request would run for a caller that
    has given up (and retries under its idempotency key anyway).
    """

    rpc_reply_listener = _ReplyListener()

    def __init__(self, target_service: str, **options):
        options.setdefault("delivery_mode", TRANSIENT)
        super().__init__(target_service, **options)


def validated(schema: Schema | type[Schema]):
    """RPC arguments are passed by name and loaded through ``schema`` before the method runs.

    The decorated method receives the loaded dict: ``def create_job(self, args)``. Positional
    arguments, unknown names, and values out of range are a ValidationError naming the field.
    """
    instance = schema() if isinstance(schema, type) else schema

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, *args: Any, **kwargs: Any):
            if args:
                raise ValidationError(
                    "pass arguments by name",
                    {"_schema": ["Positional arguments are not accepted."]},
                )
            return fn(self, load(instance, kwargs))

        wrapper.schema = instance
        return wrapper

    return decorate


class NoArguments(BaseSchema):
    pass


class DeadLetterQuery(BaseSchema):
    include_replayed = fields.Boolean(load_default=False)
    limit = fields.Integer(strict=True, load_default=100, validate=validate.Range(min=1, max=1000))


class DeadLetterReplay(BaseSchema):
    ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )


class Operations:
    """Mixed into every service: health and dead letters, for operators.

    Expects the service to declare ``store`` (EventStore), ``caller`` (CallerProvider) and
    ``relay`` (Relay).
    """

    @rpc
    @validated(NoArguments)
    def health(self, args) -> dict:
        """Database reachable, relay lag, parked dead letters. Open to anyone (probes)."""
        # read through the store's pool: the relay's own connection belongs to its thread
        rows = self.store.query(
            "SELECT (SELECT coalesce(max(position), 0) FROM events),"
            " (SELECT coalesce(max(position), 0) FROM relay_position WHERE relay = %s),"
            " (SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL)",
            (f"{self.name}.events",),
        )
        head, published, parked = rows[0]
        return {
            "service": self.name,
            "database": "ok",
            "log_head": head,
            "relay_position": published,
            "relay_leader": self.relay.is_leader,
            "relay_lag": head - published,
            "dead_letters": parked,
        }

    @rpc
    @validated(DeadLetterQuery)
    def list_dead_letters(self, args) -> list[dict]:
        """Parked messages of this service's consumers (operators only)."""
        self.caller.require_role("operator")
        letters = list_dead_letters(
            self.store.store.pool.conninfo, args["include_replayed"], args["limit"]
        )
        for letter in letters:
            letter["parked_at"] = letter["parked_at"].isoformat()
            letter["replayed_at"] = (
                letter["replayed_at"].isoformat() if letter["replayed_at"] else None
            )
        return letters

    @rpc
    @validated(DeadLetterReplay)
    def replay_dead_letters(self, args) -> dict:
        """Send parked messages back to their handlers (operators only)."""
        self.caller.require_role("operator")
        dsn = self.store.store.pool.conninfo
        replayed = [
            i for i in args["ids"] if replay_dead_letter(dsn, self.relay.publisher.amqp_uri, i)
        ]
        return {"replayed": replayed}


class SuspensionData(BaseSchema):
    user_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(required=True, validate=validate.Length(max=2000))
    by = fields.String(required=True, validate=validate.Length(min=1, max=64))
    suspended_at = fields.String(load_default=None, allow_none=True)
    reinstated_at = fields.String(load_default=None, allow_none=True)


class FollowsSuspensions:
    """Keeps the service's ``suspended_users`` table from identity's events."""

    @consume("identity", "UserSuspended", schema=SuspensionData)
    def track_suspension(self, uow, event):
        uow.execute(
            "INSERT INTO suspended_users (user_id, reason, suspended_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET reason = excluded.reason, suspended_at = excluded.suspended_at",
            (event.data["user_id"], event.data["reason"], event.recorded_at),
        )

    @consume("identity", "UserReinstated", schema=SuspensionData)
    def track_reinstatement(self, uow, event):
        uow.execute("DELETE FROM suspended_users WHERE user_id = %s", (event.data["user_id"],))
