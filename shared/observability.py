"""What an operator sees of a running service: Prometheus metrics, HTTP health, JSON logs.

Declared on a service next to its other dependencies::

    class EscrowService(Operations):
        name = "escrow"
        store = EventStore(...)
        relay = Relay()
        caller = CallerProvider()
        metrics = Metrics()          # /metrics, /health, /live on METRICS_PORT
        log_context = LogContext()   # correlation id, entrypoint, caller in every log line

``Metrics`` times every worker through nameko's ``worker_setup``/``worker_result`` hooks
(RPC methods, event handlers and timers, errors by exception type) and, on each scrape,
reads the service's own database (log head, relay position, parked dead letters, fired
deadlines) and the broker (messages waiting in the service's consumer queues). It serves
them with a small eventlet WSGI server in a managed thread of the container, on config
``METRICS_PORT`` (0, the default, means no server) and ``METRICS_HOST`` (default 0.0.0.0).

``/health`` answers 200 when the database and the broker are reachable and the relay lag
and dead letters are within ``HEALTH_MAX_RELAY_LAG`` / ``HEALTH_MAX_DEAD_LETTERS`` (unset
means no limit), else 503, with the details as JSON; ``/live`` answers 200 while the
process serves HTTP at all (a liveness probe must not restart a pod because PostgreSQL is
away). ``logging_config(service)`` is the ``LOGGING`` dict for JSON lines.
"""

from __future__ import annotations

import contextvars
import json
import logging
import socket
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.timer import Timer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from shared.channel import amqp_connection
from shared.clock import clock_from_config

log = logging.getLogger(__name__)

# Every metric family a service exposes (counters without their ``_total`` suffix).
METRIC_NAMES = (
    "marketplace_rpc_duration_seconds",
    "marketplace_rpc_errors",
    "marketplace_handler_duration_seconds",
    "marketplace_handler_errors",
    "marketplace_dependency_up",
    "marketplace_events_appended",
    "marketplace_relay_position",
    "marketplace_relay_lag_events",
    "marketplace_relay_leader",
    "marketplace_deadlines_pending",
    "marketplace_deadlines_overdue",
    "marketplace_dead_letters",
    "marketplace_timers_fired",
    "marketplace_consumer_queue_messages",
)

# Seconds a scrape or a health check waits for the database or the broker.
PROBE_TIMEOUT = 3

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# -- structured logs -----------------------------------------------------------------------

# What the current worker is doing; each nameko worker runs in its own greenlet, and each
# greenlet has its own context, so concurrent workers never see each other's values.
LOG_CONTEXT: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "marketplace_log_context", default=None
)

_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, and the worker's
    correlation id, entrypoint and caller when the line comes from inside a worker.

    ``extra={...}`` values given to a log call are added under their own names.
    """

    def __init__(self, service: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        context = LOG_CONTEXT.get() or {}
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": context.get("service") or self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": context.get("correlation_id"),
            "entrypoint": context.get("entrypoint"),
            "caller": context.get("caller"),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(line, default=str, separators=(",", ":"))


def logging_config(service: str, level: str = "INFO") -> dict:
    """The ``LOGGING`` section (``logging.config.dictConfig``) for JSON lines on stderr.

    Each ``deploy/config/<service>.yaml`` carries the same dict written out in YAML.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "shared.observability.JsonFormatter", "service": service}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"level": level, "handlers": ["console"]},
    }


def caller_of(worker_ctx) -> str | None:
    """Who called this worker: the ``service.method`` of the immediate parent call id."""
    parent = worker_ctx.immediate_parent_call_id
    if not parent:
        return None
    return ".".join(parent.split(".")[:2])


def correlation_of(worker_ctx) -> str:
    """The correlation id the event store writes into metadata, for the same worker."""
    stack = worker_ctx.call_id_stack
    return worker_ctx.data.get("correlation_id") or (stack[0] if stack else worker_ctx.call_id)


class LogContext(DependencyProvider):
    """Puts the worker's service, entrypoint, correlation id and caller into ``LOG_CONTEXT``
    for the worker's lifetime, so ``JsonFormatter`` writes them into every line it logs."""

    def worker_setup(self, worker_ctx) -> None:
        LOG_CONTEXT.set(
            {
                "service": self.container.service_name,
                "entrypoint": f"{self.container.service_name}.{worker_ctx.entrypoint.method_name}",
                "correlation_id": correlation_of(worker_ctx),
                "caller": caller_of(worker_ctx),
            }
        )

    def worker_teardown(self, worker_ctx) -> None:
        LOG_CONTEXT.set(None)

    def get_dependency(self, worker_ctx) -> dict | None:
        return LOG_CONTEXT.get()


# -- the service's state, read from its database and the broker ------------------------------


@dataclass
class ServiceState:
    """One reading of what /health and the scrape-time gauges report."""

    database_ok: bool = False
    database_error: str | None = None
    broker_ok: bool = False
    broker_error: str | None = None
    log_head: int = 0
    relay_position: int = 0
    relay_leader: bool | None = None
    dead_letters: dict[str, int] = field(default_factory=dict)
    deadlines: dict[str, int] = field(default_factory=dict)
    deadlines_pending: int = 0
    deadlines_overdue: int = 0
    queue_messages: dict[str, int] = field(default_factory=dict)

    @property
    def relay_lag(self) -> int:
        return max(self.log_head - self.relay_position, 0)

    @property
    def dead_letter_count(self) -> int:
        return sum(self.dead_letters.values())


def _outcome(text: str | None) -> str:
    if text is None:
        return "pending"
    if text.startswith("moot"):
        return "moot"
    return text if text in ("fired", "cancelled") else "other"


def read_database(dsn: str, relay_name: str, now: datetime, state: ServiceState) -> None:
    with psycopg.connect(
        dsn,
        autocommit=True,
        connect_timeout=PROBE_TIMEOUT,
        options=f"-c statement_timeout={PROBE_TIMEOUT * 1000}",
    ) as conn:
        head, published = conn.execute(
            "SELECT (SELECT coalesce(max(position), 0) FROM events),"
            " (SELECT coalesce(max(position), 0) FROM relay_position WHERE relay = %s)",
            (relay_name,),
        ).fetchone()
        state.log_head, state.relay_position = head, published
        state.dead_letters = dict(
            conn.execute(
                "SELECT consumer, count(*) FROM dead_letters WHERE replayed_at IS NULL"
                " GROUP BY consumer"
            ).fetchall()
        )
        deadlines: dict[str, int] = {}
        for outcome, count in conn.execute(
            "SELECT outcome, count(*) FROM deadlines WHERE fired_at IS NOT NULL GROUP BY outcome"
        ):
            key = _outcome(outcome)
            deadlines[key] = deadlines.get(key, 0) + count
        state.deadlines = deadlines
        state.deadlines_pending, state.deadlines_overdue = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE due_at <= %s) FROM deadlines"
            " WHERE fired_at IS NULL",
            (now,),
        ).fetchone()
    state.database_ok = True


def read_broker(amqp_uri: str, queues: list[str], state: ServiceState) -> None:
    conn = amqp_connection(
        amqp_uri,
        connect_timeout=PROBE_TIMEOUT,
        read_timeout=PROBE_TIMEOUT,
        write_timeout=PROBE_TIMEOUT,
    )
    try:
        channel = conn.channel()
        for name in queues:
            try:
                _, waiting, _ = channel.queue_declare(name, passive=True)
            except Exception:  # not declared yet: the channel is closed, open another
                channel = conn.channel()
                continue
            state.queue_messages[name] = waiting
    finally:
        conn.close()
    state.broker_ok = True


# -- metrics and the HTTP endpoints -----------------------------------------------------------


def entrypoint_kind(entrypoint) -> str:
    if isinstance(entrypoint, Rpc):
        return "rpc"
    if isinstance(entrypoint, EventHandler):
        return "event"
    if isinstance(entrypoint, Timer):
        return "timer"
    return type(entrypoint).__name__.lower()


def _limit(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


class _StateCollector:
    """Collects the scrape-time gauges from a fresh ``ServiceState``."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterator:
        m = self.metrics
        state = m.read_state()
        service = [m.service]
        up = GaugeMetricFamily(
            "marketplace_dependency_up",
            "1 if the dependency answered",
            labels=["service", "dependency"],
        )
        up.add_metric([m.service, "database"], 1 if state.database_ok else 0)
        up.add_metric([m.service, "broker"], 1 if state.broker_ok else 0)
        yield up
        if state.database_ok:
            appended = CounterMetricFamily(
                "marketplace_events_appended",
                "Events in the service's log (its head position)",
                labels=["service"],
            )
            appended.add_metric(service, state.log_head)
            yield appended
            for name, doc, value in (
                (
                    "marketplace_relay_position",
                    "Last position confirmed by the broker",
                    state.relay_position,
                ),
                (
                    "marketplace_relay_lag_events",
                    "Events appended but not yet published",
                    state.relay_lag,
                ),
                (
                    "marketplace_deadlines_pending",
                    "Deadlines not fired yet",
                    state.deadlines_pending,
                ),
                (
                    "marketplace_deadlines_overdue",
                    "Deadlines due by the service clock but not fired",
                    state.deadlines_overdue,
                ),
            ):
                gauge = GaugeMetricFamily(name, doc, labels=["service"])
                gauge.add_metric(service, value)
                yield gauge
            parked = GaugeMetricFamily(
                "marketplace_dead_letters",
                "Parked messages not replayed, per consumer",
                labels=["service", "consumer"],
            )
            for consumer, count in sorted(state.dead_letters.items()):
                parked.add_metric([m.service, consumer], count)
            yield parked
            fired = CounterMetricFamily(
                "marketplace_timers_fired",
                "Deadlines the timer has settled, by outcome (fired, moot, cancelled)",
                labels=["service", "outcome"],
            )
            for outcome in ("fired", "moot", "cancelled", "other"):
                fired.add_metric([m.service, outcome], state.deadlines.get(outcome, 0))
            yield fired
        if state.relay_leader is not None:
            leader = GaugeMetricFamily(
                "marketplace_relay_leader",
                "1 on the replica whose relay holds the lock",
                labels=["service"],
            )
            leader.add_metric(service, 1 if state.relay_leader else 0)
            yield leader
        if state.broker_ok:
            waiting = GaugeMetricFamily(
                "marketplace_consumer_queue_messages",
                "Messages waiting in the service's consumer queues (consumer lag)",
                labels=["service", "queue"],
            )
            for queue, count in sorted(state.queue_messages.items()):
                waiting.add_metric([m.service, queue], count)
            yield waiting


class Metrics(DependencyProvider):
    """Prometheus metrics and the /metrics, /health, /live endpoints of one service.

    Config: ``METRICS_PORT`` (0 = no HTTP server), ``METRICS_HOST`` (0.0.0.0),
    ``HEALTH_MAX_RELAY_LAG`` and ``HEALTH_MAX_DEAD_LETTERS`` (unset = no limit), and the
    ``DB_DSN``, ``AMQP_URI``, ``CLOCK`` the service already has. Each container has its own
    registry, so several services or replicas can run in one process (as tests do).
    """

    def setup(self) -> None:
        config = self.container.config
        self.service = self.container.service_name
        self.port = int(config.get("METRICS_PORT") or 0)
        self.host = str(config.get("METRICS_HOST") or "0.0.0.0")
        self.max_relay_lag = _limit(config.get("HEALTH_MAX_RELAY_LAG"))
        self.max_dead_letters = _limit(config.get("HEALTH_MAX_DEAD_LETTERS"))
        self.dsn = config.get("DB_DSN")
        self.amqp_uri = config.get("AMQP_URI")
        self.clock = clock_from_config(config)
        self.registry = CollectorRegistry()
        self.rpc_duration = Histogram(
            "marketplace_rpc_duration_seconds",
            "RPC handling time per method, errors included",
            ["service", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rpc_errors = Counter(
            "marketplace_rpc_errors",
            "RPC calls that raised, per method and exception type",
            ["service", "method", "error"],
            registry=self.registry,
        )
        self.handler_duration = Histogram(
            "marketplace_handler_duration_seconds",
            "Event handler and timer run time",
            ["service", "handler", "kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.handler_errors = Counter(
            "marketplace_handler_errors",
            "Event handler and timer runs that raised, per exception type",
            ["service", "handler", "kind", "error"],
            registry=self.registry,
        )
        self.registry.register(_StateCollector(self))
        self._started: dict[int, float] = {}
        self._socket: socket.socket | None = None
        self._server = None
        self.bound_port: int | None = None

    # -- worker hooks --------------------------------------------------------------------

    def worker_setup(self, worker_ctx) -> None:
        self._started[id(worker_ctx)] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        started = self._started.pop(id(worker_ctx), None)
        if started is None:
            return
        elapsed = time.perf_counter() - started
        entrypoint = worker_ctx.entrypoint
        kind = entrypoint_kind(entrypoint)
        method = entrypoint.method_name
        error = type(exc_info[1]).__name__ if exc_info else None
        if kind == "rpc":
            self.rpc_duration.labels(self.service, method).observe(elapsed)
            if error:
                self.rpc_errors.labels(self.service, method, error).inc()
        else:
            self.handler_duration.labels(self.service, method, kind).observe(elapsed)
            if error:
                self.handler_errors.labels(self.service, method, kind, error).inc()

    def worker_teardown(self, worker_ctx) -> None:
        self._started.pop(id(worker_ctx), None)

    # -- reading the service's state -----------------------------------------------------

    def _relay(self):
        from shared.relay import Relay

        for dependency in self.container.dependencies:
            if isinstance(dependency, Relay):
                return dependency
        return None

    def _consumer_queues(self) -> list[str]:
        return sorted(
            {
                e.queue.name
                for e in self.container.entrypoints
                if isinstance(e, EventHandler) and getattr(e, "queue", None) is not None
            }
        )

    def read_state(self) -> ServiceState:
        """Read the database and the broker now; failures are reported, never raised."""
        state = ServiceState()
        relay = self._relay()
        if relay is not None and relay.relay is not None:
            state.relay_leader = relay.enabled and relay.relay.is_leader
        try:
            read_database(self.dsn, f"{self.service}.events", self.clock.now(), state)
        except Exception as exc:
            state.database_error = f"{type(exc).__name__}: {exc}"[:300]
        try:
            read_broker(self.amqp_uri, self._consumer_queues(), state)
        except Exception as exc:
            state.broker_error = f"{type(exc).__name__}: {exc}"[:300]
        return state

    def health(self) -> tuple[bool, dict]:
        """Whether this replica should take traffic, and why."""
        state = self.read_state()
        relay_ok = state.database_ok and (
            self.max_relay_lag is None or state.relay_lag <= self.max_relay_lag
        )
        letters_ok = state.database_ok and (
            self.max_dead_letters is None or state.dead_letter_count <= self.max_dead_letters
        )
        checks = {
            "database": {"ok": state.database_ok, "error": state.database_error},
            "broker": {"ok": state.broker_ok, "error": state.broker_error},
            "relay": {
                "ok": relay_ok,
                "lag": state.relay_lag if state.database_ok else None,
                "position": state.relay_position,
                "log_head": state.log_head,
                "leader": state.relay_leader,
                "max_lag": self.max_relay_lag,
            },
            "dead_letters": {
                "ok": letters_ok,
                "count": state.dead_letter_count if state.database_ok else None,
                "max": self.max_dead_letters,
            },
        }
        healthy = all(check["ok"] for check in checks.values())
        return healthy, {
            "service": self.service,
            "status": "ok" if healthy else "failing",
            "checks": checks,
        }

    # -- HTTP ----------------------------------------------------------------------------

    def wsgi_app(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            body = generate_latest(self.registry)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [body]
        if path == "/health":
            healthy, report = self.health()
            status = "200 OK" if healthy else "503 Service Unavailable"
        elif path == "/live":
            status, report = "200 OK", {"service": self.service, "status": "alive"}
        else:
            status, report = "404 Not Found", {"error": f"no such path {path}"}
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(report).encode()]

    def start(self) -> None:
        if not self.port:
            return
        import eventlet
        import eventlet.wsgi

        self._socket = eventlet.listen((self.host, self.port))
        self.bound_port = self._socket.getsockname()[1]
        self._server = self.container.spawn_managed_thread(
            lambda: eventlet.wsgi.server(
                self._socket, self.wsgi_app, log_output=False, debug=False
            ),
            identifier="metrics-http",
        )
        log.info("%s: metrics and health on %s:%s", self.service, self.host, self.bound_port)

    def stop(self) -> None:
        # nameko stops dependencies after the workers finished; the probes go last
        if self._server is not None:
            self._server.kill()
            self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx) -> Metrics:
        return self
