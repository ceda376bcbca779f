"""Metrics, health and JSON logs of a running nameko service, scraped over HTTP."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from datetime import timedelta

import eventlet
import psycopg
import pytest
import requests
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy
from prometheus_client.parser import text_string_to_metric_families

from shared.auth import CallerProvider
from shared.clock import manual_clock
from shared.domain import NewEvent
from shared.errors import ValidationError
from shared.observability import METRIC_NAMES, JsonFormatter, LogContext, Metrics, logging_config
from shared.relay import Relay
from shared.rpc import Operations
from shared.storage import EventStore
from shared.timers import fire_due, schedule
from tests.deploy.helpers import free_port, scrape, value, wait_until

log = logging.getLogger("tests.deploy.observed")


class Observed(Operations):
    """A small service with the platform's dependencies and the observability ones."""

    name = "observed"
    store = EventStore()
    relay = Relay()
    caller = CallerProvider()
    metrics = Metrics()
    log_context = LogContext()

    @rpc
    def note(self, n: int) -> int:
        """Append one event and log a line about it."""
        log.info("noting %s", n)
        with self.store.transaction() as uow:
            return uow.append([NewEvent("Noted", {"n": n}, stream=f"note-{n}")])[0].position

    @rpc
    def refuse(self) -> None:
        raise ValidationError("always refused", {"n": ["never valid"]})

    @rpc
    def schedule_deadline(self, deadline_id: str, seconds: int) -> None:
        with self.store.transaction() as uow:
            due = self.store.clock.now() + timedelta(seconds=seconds)
            schedule(uow, deadline_id, "reminder", due, {"id": deadline_id})

    @rpc
    def fire_deadlines(self) -> int:
        return fire_due(self.store, {"reminder": lambda uow, payload, now: None})


@pytest.fixture
def dsn(databases):
    return databases.create("core")


@pytest.fixture
def start(container_factory, rabbit_config, dsn):
    def start(**extra):
        port = free_port()
        config = {
            "AMQP_URI": rabbit_config["AMQP_URI"],
            "DB_DSN": dsn,
            "AUTH_FETCH_KEYS": "false",
            "RELAY_POLL_INTERVAL": 0.2,
            "CLOCK": "manual",
            "METRICS_PORT": port,
            "METRICS_HOST": "127.0.0.1",
            **extra,
        }
        container = container_factory(Observed, config)
        container.start()
        return container, port

    return start


def park_letters(dsn: str, count: int, consumer: str = "observed.count_note") -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(count):
            conn.execute(
                "INSERT INTO dead_letters (consumer, queue, routing_key, body, headers, error, attempts)"
                " VALUES (%s, 'q', 'Noted', '{}', '{}', 'RuntimeError: injected', 3)",
                (consumer,),
            )


def test_rpc_calls_and_errors_are_counted_per_method(start, rabbit_config):
    _, port = start()
    before = scrape(port)
    with ServiceRpcProxy("observed", rabbit_config) as proxy:
        for n in range(1, 4):
            proxy.note(n=n)
        with pytest.raises(Exception) as raised:
            proxy.refuse()
    assert "ValidationError" in type(raised.value).__name__ + str(raised.value)
    count = "marketplace_rpc_duration_seconds_count"
    labels = {"service": "observed", "method": "note"}
    # nameko sends the reply before the worker_result hooks run: the last call may still
    # be being counted when its caller already has the answer
    wait_until(lambda: value(scrape(port), count, service="observed", method="refuse") == 1)
    after = scrape(port)
    assert value(after, count, **labels) - value(before, count, **labels) == 3
    assert value(after, count, service="observed", method="refuse") == 1
    assert (
        value(
            after,
            "marketplace_rpc_errors_total",
            service="observed",
            method="refuse",
            error="ValidationError",
        )
        == 1
    )
    assert (
        value(
            after,
            "marketplace_rpc_errors_total",
            service="observed",
            method="note",
            error="ValidationError",
        )
        == 0
    )
    # every call lands in some bucket, and the +Inf bucket holds them all
    assert value(after, "marketplace_rpc_duration_seconds_bucket", le="+Inf", **labels) == 3
    assert value(after, "marketplace_rpc_duration_seconds_sum", **labels) > 0


@pytest.fixture
def restore_clock():
    # the manual clock is shared by the whole test process: put it back afterwards
    before = manual_clock.now()
    yield manual_clock
    manual_clock.set(before)


def test_log_relay_dead_letters_and_timers_are_read_from_the_database(
    start, dsn, rabbit_config, restore_clock
):
    _, port = start()
    with ServiceRpcProxy("observed", rabbit_config) as proxy:
        for n in range(1, 6):
            proxy.note(n=n)
        proxy.schedule_deadline(deadline_id="d1", seconds=60)
        proxy.schedule_deadline(deadline_id="d2", seconds=600)
        samples = scrape(port)
        assert value(samples, "marketplace_events_appended_total", service="observed") == 5
        assert value(samples, "marketplace_deadlines_pending", service="observed") == 2
        assert value(samples, "marketplace_deadlines_overdue", service="observed") == 0

        restore_clock.advance(seconds=61)
        assert value(scrape(port), "marketplace_deadlines_overdue", service="observed") == 1
        assert proxy.fire_deadlines() == 1

    # the relay catches up: lag goes to zero and the position reaches the head
    wait_until(lambda: value(scrape(port), "marketplace_relay_position", service="observed") == 5)
    samples = scrape(port)
    assert value(samples, "marketplace_relay_lag_events", service="observed") == 0
    assert value(samples, "marketplace_relay_leader", service="observed") == 1
    assert (
        value(samples, "marketplace_dependency_up", service="observed", dependency="database") == 1
    )
    assert value(samples, "marketplace_dependency_up", service="observed", dependency="broker") == 1
    assert (
        value(samples, "marketplace_timers_fired_total", service="observed", outcome="fired") == 1
    )
    assert value(samples, "marketplace_deadlines_pending", service="observed") == 1
    assert value(samples, "marketplace_deadlines_overdue", service="observed") == 0

    park_letters(dsn, 2)
    park_letters(dsn, 1, consumer="observed.other")
    samples = scrape(port)
    assert (
        value(
            samples, "marketplace_dead_letters", service="observed", consumer="observed.count_note"
        )
        == 2
    )
    assert (
        value(samples, "marketplace_dead_letters", service="observed", consumer="observed.other")
        == 1
    )


def test_health_endpoint_agrees_with_the_health_rpc(start, dsn, rabbit_config):
    _, port = start()
    with ServiceRpcProxy("observed", rabbit_config) as proxy:
        proxy.note(n=1)
        proxy.note(n=2)
        wait_until(lambda: proxy.health()["relay_lag"] == 0)
        park_letters(dsn, 3)
        over_rpc = proxy.health()
    response = requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    checks = report["checks"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]
    assert checks["relay"]["log_head"] == over_rpc["log_head"] == 2
    assert checks["relay"]["lag"] == over_rpc["relay_lag"] == 0
    assert checks["relay"]["leader"] is True
    assert checks["dead_letters"]["count"] == over_rpc["dead_letters"] == 3

    live = requests.get(f"http://127.0.0.1:{port}/live", timeout=10)
    assert live.status_code == 200 and live.json()["status"] == "alive"
    assert requests.get(f"http://127.0.0.1:{port}/nowhere", timeout=10).status_code == 404


def test_health_is_503_past_the_dead_letter_limit(start, dsn):
    _, port = start(HEALTH_MAX_DEAD_LETTERS=1)
    assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
    park_letters(dsn, 2)
    response = requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "failing"
    assert report["checks"]["dead_letters"] == {"ok": False, "count": 2, "max": 1}
    assert report["checks"]["database"]["ok"] is True


def metrics_of(container) -> Metrics:
    return next(d for d in container.dependencies if isinstance(d, Metrics))


def test_health_is_503_when_the_database_or_the_broker_is_away(start, dsn):
    container, port = start()
    metrics = metrics_of(container)
    # point the probe (not the service) at servers that are not there
    metrics.amqp_uri = f"pyamqp://guest:guest@127.0.0.1:{free_port()}/"
    response = requests.get(f"http://127.0.0.1:{port}/health", timeout=20)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False and checks["broker"]["error"]
    assert checks["database"]["ok"] is True

    metrics.dsn = psycopg.conninfo.make_conninfo(dsn, dbname="mkt_no_such_database")
    checks = requests.get(f"http://127.0.0.1:{port}/health", timeout=20).json()["checks"]
    assert checks["database"] == {"ok": False, "error": checks["database"]["error"]}
    assert "mkt_no_such_database" in checks["database"]["error"]
    assert checks["relay"]["ok"] is False and checks["relay"]["lag"] is None
    samples = scrape(port)
    assert (
        value(samples, "marketplace_dependency_up", service="observed", dependency="database") == 0
    )
    assert value(samples, "marketplace_dependency_up", service="observed", dependency="broker") == 0
    assert ("marketplace_relay_lag_events", (("service", "observed"),)) not in samples


def test_the_server_stops_with_the_container(start):
    container, port = start()
    assert requests.get(f"http://127.0.0.1:{port}/live", timeout=10).status_code == 200
    container.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/live", timeout=5)


def test_no_server_when_the_port_is_zero(start):
    container, _ = start(METRICS_PORT=0)
    metrics = metrics_of(container)
    assert metrics.bound_port is None
    # the metrics are still collected, for a scrape by other means
    assert (
        metrics.registry.get_sample_value(
            "marketplace_dependency_up", {"service": "observed", "dependency": "database"}
        )
        == 1
    )


def test_log_lines_are_json_with_the_workers_context(start, rabbit_config):
    start()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service="fallback"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with ServiceRpcProxy(
            "observed", rabbit_config, context_data={"correlation_id": "corr-42"}
        ) as proxy:
            proxy.note(n=7)
        with ServiceRpcProxy("observed", rabbit_config) as proxy:
            proxy.note(n=8)
        log.info("outside any worker", extra={"detail": 5})
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    first, second, outside = lines
    assert first["message"] == "noting 7" and first["level"] == "INFO"
    assert first["service"] == "observed"
    assert first["entrypoint"] == "observed.note"
    assert first["correlation_id"] == "corr-42"
    assert first["caller"] == "standalone_rpc_proxy.call"
    assert first["logger"] == "tests.deploy.observed"
    # without one given, the correlation id is the id of the call that started the chain
    assert second["correlation_id"].startswith("standalone_rpc_proxy.call.")
    assert outside["service"] == "fallback"
    assert outside["correlation_id"] is None and outside["entrypoint"] is None
    assert outside["detail"] == 5


def test_concurrent_workers_keep_their_own_log_context(start, rabbit_config):
    start()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    def call(n):
        with ServiceRpcProxy(
            "observed", rabbit_config, context_data={"correlation_id": f"c-{n}"}
        ) as proxy:
            return proxy.note(n=n)

    try:
        pool = eventlet.GreenPool()
        list(pool.imap(call, range(1, 11)))
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted((line["message"], line["correlation_id"]) for line in lines) == sorted(
        (f"noting {n}", f"c-{n}") for n in range(1, 11)
    )


def test_the_logging_config_builds_the_json_formatter():
    config = logging_config("escrow", level="WARNING")
    configurator = logging.config.DictConfigurator(config)
    formatter = configurator.configure_formatter(dict(config["formatters"]["json"]))
    assert isinstance(formatter, JsonFormatter) and formatter.service == "escrow"
    record = logging.makeLogRecord({"msg": "hello %s", "args": ("there",), "levelname": "WARNING"})
    assert json.loads(formatter.format(record))["message"] == "hello there"
    assert config["root"] == {"level": "WARNING", "handlers": ["console"]}


def test_a_scrape_exposes_every_documented_metric_family(start):
    _, port = start()
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert families == set(METRIC_NAMES)
