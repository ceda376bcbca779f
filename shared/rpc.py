"""RPC helpers: validated arguments, the operator endpoints every service has, and how RPC
messages travel (``ReplyChannel`` and ``RpcProxy``: requests and replies transient, written
straight onto a channel of the container's own without publisher confirms, replies taken
unacked by the caller).

Import the mixins through the module (``from shared import rpc as platform`` and
``class JobsService(platform.Operations, ...)``): ``nameko run some.module`` starts every
top-level class of that module that has entrypoints, and a mixin imported by name would be
taken for a service. ``marketplace run`` names the class (``module:Class``) and is immune.
"""

from __future__ import annotations

import functools
import logging
import sys
import uuid
from typing import Any

import kombu.serialization
from marshmallow import Schema, fields, validate
from nameko import rpc as nameko_rpc
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    RPC_EXCHANGE_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.exceptions import UnknownService, UnserializableValueError, serialize
from nameko.extensions import Entrypoint, SharedExtension
from nameko.messaging import QueueConsumer
from nameko.rpc import RPC_QUEUE_TEMPLATE, ReplyListener, RpcConsumer, RpcReply, rpc

from shared.channel import PublishChannel
from shared.consumers import consume, list_dead_letters, replay_dead_letter
from shared.errors import ValidationError
from shared.schemas import BaseSchema, load

log = logging.getLogger(__name__)


TRANSIENT = 1  # AMQP delivery mode: kept in memory, not written to the broker's disk


def rpc_exchange_name(config) -> str:
    """The exchange nameko's RPC goes through (``get_rpc_exchange`` builds a kombu Exchange
    object to say so, per message)."""
    return config.get(RPC_EXCHANGE_CONFIG_KEY, "nameko-rpc")


# -- nameko's per-call signature check, once per shape ---------------------------------------

_check_signature = Entrypoint.check_signature
_SHAPES_REMEMBERED = 32  # per entrypoint: a method taking **kwargs would pass any names


def _check_signature_once_per_shape(self: Entrypoint, args, kwargs) -> None:
    """``Entrypoint.check_signature``, remembering the argument shapes that passed.

    nameko runs ``inspect.getcallargs`` on the method before every call (measured: ~50 us
    per RPC and per HTTP request). Whether a call binds depends only on how many positional
    arguments it has and which keyword names, not on their values, so a shape that bound
    once binds again. A shape that fails is checked (and refused) every time.
    """
    shape = (len(args), frozenset(kwargs))
    passed = self.__dict__.get("_shapes_passed")
    if passed is None:
        passed = self.__dict__["_shapes_passed"] = set()
    elif shape in passed:
        return
    _check_signature(self, args, kwargs)
    if len(passed) < _SHAPES_REMEMBERED:
        passed.add(shape)


# Every service imports this module, so every entrypoint of theirs checks this way.
Entrypoint.check_signature = _check_signature_once_per_shape


class _ContainerChannel(SharedExtension):
    """One ``PublishChannel`` per container, closed when the container stops; it connects
    as nameko's own publishers would (``AMQP_URI``, ``AMQP_SSL``, ``LOGIN_METHOD``)."""

    def setup(self) -> None:
        config = self.container.config
        self.channel = PublishChannel(
            config[AMQP_URI_CONFIG_KEY],
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )

    def stop(self) -> None:
        self.channel.close()

    def kill(self) -> None:
        self.channel.close()


class ReplyChannel(_ContainerChannel):
    """Where a service's RPC replies are written: transient and without a publisher confirm.

    A reply only matters while its caller waits for it (the gateway: up to
    ``RPC_TIMEOUT_SECONDS``). A reply lost on the way, because the broker restarts at that
    moment, ends in the caller's timeout, and a command retried under the same idempotency
    key answers with its stored result. Writing every reply to disk and waiting for the
    broker's confirm would only narrow that window, at a disk write and a frame per call.
    """


def reply_message(message, result, exc_info) -> tuple[str | bytes, str, str, Any, Any]:
    """An RPC reply as nameko frames it (``{"result", "error"}``, in the request's own
    serialiser): body, content type, content encoding, and the result and exc_info to
    report (a result that cannot be serialised becomes an ``UnserializableValueError``).
    Serialised once: nameko serialises a reply to check it, then again to publish it."""
    error = serialize(exc_info[1]) if exc_info is not None else None
    content_type = message.properties["content_type"]
    serializer = kombu.serialization.registry.type_to_name[content_type]
    try:
        _, encoding, body = kombu.serialization.dumps(
            {"result": result, "error": error}, serializer
        )
    except Exception:
        exc_info = sys.exc_info()
        error = serialize(UnserializableValueError(result))
        result = None
        _, encoding, body = kombu.serialization.dumps({"result": None, "error": error}, serializer)
    return body, content_type, encoding, result, exc_info


def _send_reply(self: RpcConsumer, message, result, exc_info):
    """``RpcConsumer.handle_result``: the reply as above, then the request's ack.

    nameko sends a reply from the worker's thread; if the broker is away at that moment the
    publish raises, the worker thread dies with it, and nameko kills the whole container:
    the service stops serving for good although its connections would come back. Here the
    request is requeued instead (it is redelivered once the broker is back, and a command
    under the same idempotency key answers with its stored result) and the container lives
    on.
    """
    body, content_type, encoding, result, exc_info = reply_message(message, result, exc_info)
    try:
        self.reply_channel.channel.publish(
            body,
            exchange=rpc_exchange_name(self.container.config),
            routing_key=message.properties["reply_to"],
            content_type=content_type,
            content_encoding=encoding,
            correlation_id=message.properties.get("correlation_id"),
            delivery_mode=TRANSIENT,
        )
    except Exception as exc:  # the reply could not be published
        log.warning("could not send an RPC reply (%s); the request is requeued", exc)
        self.queue_consumer.requeue_message(message)
        return result, exc_info
    self.queue_consumer.ack_message(message)
    return result, exc_info


# Every service imports this module, so every service's RPC entrypoints reply this way:
# the reply channel is a shared extension of the (per-container) RPC consumer.
RpcConsumer.reply_channel = ReplyChannel()
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


class RequestChannel(_ContainerChannel):
    """Where a caller's RPC requests are written, and which services it knows are there.

    A call to a service whose queue the broker has never had would wait for its timeout;
    nameko finds out by publishing ``mandatory`` and waiting for the publisher confirm of
    every call. Here the service's queue (``rpc-<service>``) is looked up instead, once: a
    queue that exists stays (nameko declares it durable), so later calls go out without a
    confirm. A call to a service that has stopped waits in that queue, as it does under
    nameko, until the service is back or the caller gives up.
    """

    def setup(self) -> None:
        super().setup()
        self.known: set[str] = set()

    def require(self, service: str) -> None:
        """Raise ``UnknownService`` unless ``service`` has an RPC queue."""
        if service not in self.known:
            if not self.channel.queue_exists(RPC_QUEUE_TEMPLATE.format(service)):
                raise UnknownService(service)
            self.known.add(service)


class _MethodProxy(nameko_rpc.MethodProxy):
    """nameko's method proxy, publishing on the container's ``RequestChannel``."""

    def __init__(self, worker_ctx, service_name, method_name, reply_listener, requests, options):
        self.worker_ctx = worker_ctx
        self.service_name = service_name
        self.method_name = method_name
        self.reply_listener = reply_listener
        self.requests = requests
        self.delivery_mode = options.get("delivery_mode", TRANSIENT)
        self.serializer_name = options.get("serializer") or self.container.config.get(
            SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER
        )

    def _call(self, *args, **kwargs):
        self.requests.require(self.service_name)
        content_type, encoding, body = kombu.serialization.dumps(
            {"args": args, "kwargs": kwargs}, self.serializer_name
        )
        correlation_id = str(uuid.uuid4())
        reply_event = self.reply_listener.get_reply_event(correlation_id)
        self.requests.channel.publish(
            body,
            exchange=rpc_exchange_name(self.container.config),
            routing_key=f"{self.service_name}.{self.method_name}",
            content_type=content_type,
            content_encoding=encoding,
            correlation_id=correlation_id,
            reply_to=self.reply_listener.routing_key,
            delivery_mode=self.delivery_mode,
            application_headers=self.get_message_headers(self.worker_ctx),
        )
        return RpcReply(reply_event)


class _ServiceProxy(nameko_rpc.ServiceProxy):
    def __init__(self, worker_ctx, service_name, reply_listener, requests, options):
        self.worker_ctx = worker_ctx
        self.service_name = service_name
        self.reply_listener = reply_listener
        self.requests = requests
        self.options = options

    def __getattr__(self, name):
        return _MethodProxy(
            self.worker_ctx,
            self.service_name,
            name,
            self.reply_listener,
            self.requests,
            self.options,
        )


class RpcProxy(nameko_rpc.RpcProxy):
    """nameko's ``RpcProxy`` with its calls written on the container's ``RequestChannel``
    (transient, no publisher confirm: see ``RequestChannel`` for how a call to a service
    that is not there still fails at once) and their replies taken unacked.

    Requests are not written to disk: kept over a broker restart, a request would run for a
    caller that has given up (and retries under its idempotency key anyway).
    """

    rpc_reply_listener = _ReplyListener()
    request_channel = RequestChannel()

    def __init__(self, target_service: str, **options):
        options.setdefault("delivery_mode", TRANSIENT)
        super().__init__(target_service, **options)

    def get_dependency(self, worker_ctx):
        return _ServiceProxy(
            worker_ctx,
            self.target_service,
            self.rpc_reply_listener,
            self.request_channel,
            self.options,
        )


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
