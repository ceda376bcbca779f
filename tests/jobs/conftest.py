"""Fixtures of the jobs service tests: a running service on a fresh database and vhost."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import eventlet
import psycopg
import pytest
from kombu import Connection, Exchange
from nameko.testing.services import entrypoint_hook

from services.jobs.service import JobsService
from shared.clock import iso, manual_clock
from shared.money import Money

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def usd(amount: int) -> dict:
    return Money(amount, "USD").to_dict()


def job_details(**overrides) -> dict:
    """Valid create_job arguments (RPC form: money as dicts)."""
    base = {
        "title": "Build a Django booking site",
        "description": "We need a booking site for a small chain of yoga studios, with payments.",
        "category": "web-mobile-software-dev",
        "subcategory": "web-development",
        "skills": ["python", "Django"],
        "experience_level": "intermediate",
        "project_length": "1_to_3_months",
        "hours_per_week": "less_than_30",
        "budget": {"type": "hourly", "min": usd(2500), "max": usd(6000)},
        "visibility": "public",
        "screening_questions": ["Which booking systems have you built?"],
        "attachments": [{"file_id": "file-1", "name": "brief.pdf"}],
        "contract_to_hire": False,
    }
    base.update(overrides)
    return base


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        eventlet.sleep(interval)
    raise AssertionError("condition not met in time")


class Jobs:
    """The running service plus what a test needs to talk to it and look inside."""

    def __init__(self, container, dsn: str, mint, amqp_uri: str):
        self.container = container
        self.dsn = dsn
        self.mint = mint
        self.amqp_uri = amqp_uri

    def call(self, method: str, as_: tuple | None = None, **kwargs):
        """Call an RPC method as ``(user_id, *roles)``, or anonymously."""
        context = self.mint.context(*as_) if as_ else {}
        with entrypoint_hook(self.container, method, context_data=context) as hook:
            return hook(**kwargs)

    def scalar(self, sql: str, params=None):
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchone()[0]

    def rows(self, sql: str, params=None) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def log_length(self) -> int:
        return self.scalar("SELECT count(*) FROM events")

    def event_types(self, stream: str) -> list[str]:
        return [
            r[0]
            for r in self.rows(
                "SELECT type FROM events WHERE stream = %s ORDER BY version", (stream,)
            )
        ]

    def deliver(self, source: str, event_type: str, data: dict, event_id: str | None = None) -> str:
        """Publish another service's event as its relay would (the envelope)."""
        event_id = event_id or str(uuid.uuid4())
        envelope = {
            "event_id": event_id,
            "stream": f"{source}-stream",
            "version": 1,
            "position": 1,
            "type": event_type,
            "schema_version": 1,
            "data": data,
            "metadata": {"correlation_id": event_id},
            "recorded_at": iso(manual_clock.now()),
        }
        with Connection(self.amqp_uri) as conn:
            conn.Producer().publish(
                json.dumps(envelope),
                exchange=Exchange(f"{source}.events", type="topic", durable=True),
                routing_key=event_type,
                content_type="application/json",
            )
        return event_id

    def processed(self, consumer: str) -> int:
        return self.scalar("SELECT count(*) FROM processed_events WHERE consumer = %s", (consumer,))

    def wait_idle(self) -> None:
        """Until no worker of the service is running (every delivered message handled)."""
        wait_until(lambda: not self.container._worker_threads)

    def fire_deadlines(self) -> int:
        with entrypoint_hook(self.container, "fire_deadlines") as hook:
            return hook()


CLIENT = ("client-1", "client")
OTHER_CLIENT = ("client-2", "client")
FREELANCER = ("freelancer-1", "freelancer")
FREELANCER_2 = ("freelancer-2", "freelancer")
OPERATOR = ("operator-1", "operator")


@pytest.fixture
def jobs(container_factory, rabbit_config, databases, token_mint) -> Jobs:
    manual_clock.set(T0)
    dsn = databases.create("jobs")
    config = {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "DB_DSN": dsn,
        "RELAY_POLL_INTERVAL": 0.2,
        "CONSUMER_RETRY_DELAYS_MS": "100,200",
        # tests fire deadlines themselves after moving the clock
        "TIMER_INTERVAL": 3600,
        "SEARCH_CURSOR_SECRET": "test-secret",
        **token_mint.config(),
    }
    container = container_factory(JobsService, config)
    container.start()
    return Jobs(container, dsn, token_mint, rabbit_config["AMQP_URI"])


def create(jobs: Jobs, as_=CLIENT, publish: bool = True, **overrides) -> str:
    return jobs.call("create_job", as_, publish=publish, **job_details(**overrides))["job_id"]
