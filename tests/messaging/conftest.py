"""Fixtures of the messaging service tests: a running service on real PostgreSQL and
RabbitMQ, users that call it with tokens, and a way to deliver other services' events."""

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

from services.messaging.service import MessagingService
from shared.clock import manual_clock

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.03):
    """Poll ``predicate`` until it returns something truthy (short sleeps only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        eventlet.sleep(interval)
    raise AssertionError("condition not met in time")


class Messaging:
    """The running service under test, with its database, broker and token mint."""

    def __init__(self, container, dsn: str, rabbit_config: dict, token_mint, blob_root):
        self.container = container
        self.dsn = dsn
        self.amqp_uri = rabbit_config["AMQP_URI"]
        self.mint = token_mint
        self.blob_root = blob_root
        self._position = 0

    def call(self, user_id: str, method: str, *roles: str, **kwargs):
        """Call an RPC entrypoint as ``user_id`` (with ``roles``, default "client")."""
        context = self.mint.context(user_id, *(roles or ("client",)))
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

    def publish(
        self,
        source: str,
        event_type: str,
        data: dict,
        *,
        stream: str,
        event_id: str | None = None,
    ) -> str:
        """Deliver an event of ``source`` the way its relay would: an envelope on
        ``<source>.events`` with the event type as routing key."""
        event_id = event_id or str(uuid.uuid4())
        self._position += 1
        body = {
            "event_id": event_id,
            "stream": stream,
            "version": 1,
            "position": self._position,
            "type": event_type,
            "schema_version": 1,
            "data": data,
            "metadata": {"correlation_id": event_id},
            "recorded_at": manual_clock.now().isoformat(),
        }
        with Connection(self.amqp_uri) as conn:
            conn.Producer().publish(
                json.dumps(body),
                exchange=Exchange(f"{source}.events", type="topic", durable=True),
                routing_key=event_type,
                content_type="application/json",
                delivery_mode=2,
            )
        return event_id

    # -- other services' events, with the exact data their producers record ---------------

    def proposal_messaged(self, proposal_id, job_id, client_id, freelancer_id, **kw) -> str:
        """bidding's ``ProposalMessaged``; returns the event id once it was handled."""
        data = {
            "proposal_id": proposal_id,
            "job_id": job_id,
            "client_id": client_id,
            "freelancer_id": freelancer_id,
            "messaged_at": manual_clock.now().isoformat(),
        }
        event_id = self.publish(
            "bidding", "ProposalMessaged", data, stream=f"proposal-{proposal_id}", **kw
        )
        wait_until(lambda: self.processed(event_id))
        return event_id

    def contract_opened(self, contract_id, job_id, client_id, freelancer_id, **kw) -> str:
        """escrow's ``ContractOpened``; returns the event id once it was handled."""
        data = {
            "contract_id": contract_id,
            "offer_id": f"offer-{contract_id}",
            "proposal_id": None,
            "job_id": job_id,
            "client_id": client_id,
            "freelancer_id": freelancer_id,
            "kind": "fixed",
            "currency": "USD",
            "start_date": None,
            "fees": {"freelancer_fee_bps": 1000, "client_fee_bps": 0},
            "hourly_rate": None,
            "weekly_limit_hours": None,
            "manual_time_allowed": False,
            "opened_at": manual_clock.now().isoformat(),
        }
        event_id = self.publish(
            "escrow", "ContractOpened", data, stream=f"contract-{contract_id}", **kw
        )
        wait_until(lambda: self.processed(event_id))
        return event_id

    def contract_ended(self, contract_id, job_id, client_id, freelancer_id, wait=True) -> str:
        """escrow's ``ContractEnded``."""
        data = {
            "contract_id": contract_id,
            "job_id": job_id,
            "client_id": client_id,
            "freelancer_id": freelancer_id,
            "ended_by": client_id,
            "reason": "done",
            "ended_at": manual_clock.now().isoformat(),
        }
        event_id = self.publish("escrow", "ContractEnded", data, stream=f"contract-{contract_id}")
        if wait:
            wait_until(lambda: self.processed(event_id))
        return event_id

    def processed(self, event_id: str) -> bool:
        return bool(
            self.scalar("SELECT count(*) FROM processed_events WHERE event_id = %s", (event_id,))
        )


@pytest.fixture
def messaging_config(rabbit_config, databases, token_mint, tmp_path):
    """The config of a messaging service on a fresh database and vhost."""
    return {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "DB_DSN": databases.create("messaging"),
        "RELAY_POLL_INTERVAL": 0.2,
        "CONSUMER_RETRY_DELAYS_MS": "100,200",
        "MESSAGING": {"MAX_ATTACHMENT_BYTES": 4096, "EDIT_WINDOW_SECONDS": 900},
        "BLOBSTORE": {"KIND": "local", "ROOT": str(tmp_path / "blobs")},
        **token_mint.config(),
    }


@pytest.fixture
def messaging(container_factory, messaging_config, rabbit_config, token_mint):
    """A started messaging service, the manual clock set to ``T0``."""
    manual_clock.set(T0)
    container = container_factory(MessagingService, messaging_config)
    container.start()
    return Messaging(
        container,
        messaging_config["DB_DSN"],
        rabbit_config,
        token_mint,
        messaging_config["BLOBSTORE"]["ROOT"],
    )
