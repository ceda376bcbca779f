"""All six services running together, each a real nameko service (``runner_factory``) on
its own throwaway database, on one per-test RabbitMQ vhost, sharing the manual clock.

identity issues the real tokens; every other service fetches identity's public keys over
RPC (``AUTH_PUBLIC_KEYS`` left unset). Tests call the services over real RPC with a
``ClusterRpcProxy`` carrying a user's bearer token, wait for asynchronous effects by
polling, and fire timers through ``entrypoint_hook`` after moving the clock.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import eventlet
import psycopg
import pytest
from kombu import Connection, Exchange
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_hook

from services.bidding.service import BiddingService
from services.escrow.audit import check_database
from services.escrow.service import EscrowService
from services.identity.service import IdentityService
from services.jobs.service import JobsService
from services.messaging.service import MessagingService
from services.reputation.service import ReputationService
from shared.auth import bearer
from shared.clock import manual_clock
from shared.relay import ENVELOPE_SQL
from tests.service_configs import service_config as shared_service_config

# Monday 2 March 2026, 09:00 UTC.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "an end to end passphrase"
OPERATOR_EMAIL = "ops@e2e.test"
OPERATOR_PASSWORD = "operator passphrase 42"

SERVICES = {
    "identity": IdentityService,
    "jobs": JobsService,
    "bidding": BiddingService,
    "escrow": EscrowService,
    "messaging": MessagingService,
    "reputation": ReputationService,
}
# services with a deadline timer (identity and messaging judge windows when called)
TIMED = ("jobs", "bidding", "escrow", "reputation")


def wait_until(predicate, what: str, timeout: float = 15.0):
    """Poll ``predicate`` with short sleeps until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        eventlet.sleep(0.05)
    raise AssertionError(f"{what}: not reached within {timeout}s")


def service_config(service: str, amqp_uri: str, dsn: str, blob_root: str) -> dict:
    staff = [
        {
            "email": OPERATOR_EMAIL,
            "password": OPERATOR_PASSWORD,
            "display_name": "Ops",
            "roles": ["operator"],
        }
    ]
    return shared_service_config(service, amqp_uri, dsn, blob_root, staff, "e2e-cursor-secret")


class User:
    """A signed-in account: its id and how to call the services as it."""

    def __init__(self, market: Marketplace, email: str, password: str, user_id: str):
        self.market = market
        self.email = email
        self.password = password
        self.user_id = user_id
        self.token = ""
        self.login()

    def login(self) -> None:
        """Sign in again (access tokens last 15 minutes of the manual clock)."""
        with self.market.rpc() as rpc:
            tokens = rpc.identity.login(email=self.email, password=self.password)
        assert tokens["user_id"] == self.user_id
        self.token = tokens["access_token"]

    def rpc(self) -> ClusterRpcProxy:
        return self.market.rpc(self.token)


class Marketplace:
    """The six running services, their databases, and helpers to drive and inspect them."""

    def __init__(self, runners: dict, dsns: dict, amqp_uri: str):
        self.runners = runners
        self.dsns = dsns
        self.amqp_uri = amqp_uri
        self.clock = manual_clock

    def rpc(self, token: str | None = None) -> ClusterRpcProxy:
        context = bearer(token) if token else {}
        return ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, context_data=context, timeout=30)

    def register(self, *roles: str, name: str = "Someone") -> User:
        email = f"{uuid.uuid4().hex[:12]}@e2e.test"
        with self.rpc() as rpc:
            account = rpc.identity.register(
                email=email, password=PASSWORD, display_name=name, roles=list(roles)
            )
        return User(self, email, PASSWORD, account["user_id"])

    def operator(self) -> User:
        with self.rpc() as rpc:
            user_id = rpc.identity.login(email=OPERATOR_EMAIL, password=OPERATOR_PASSWORD)[
                "user_id"
            ]
        return User(self, OPERATOR_EMAIL, OPERATOR_PASSWORD, user_id)

    def container(self, service: str):
        (container,) = self.runners[service].containers
        return container

    def fire_timers(self) -> dict[str, int]:
        """Fire every timed service's due deadlines at the clock's current time."""
        fired = {}
        for service in TIMED:
            with entrypoint_hook(self.container(service), "fire_deadlines") as fire:
                fired[service] = fire()
        return fired

    def rows(self, service: str, sql: str, params=None) -> list[tuple]:
        with psycopg.connect(self.dsns[service], autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, service: str, sql: str, params=None):
        return self.rows(service, sql, params)[0][0]

    def redeliver(self, producer: str, event_type: str, consumer: str) -> str:
        """Publish the producer's (only) ``event_type`` event again under a new event id, as
        a relay that lost its confirms might; returns once ``consumer`` has handled it."""
        (body,) = self.rows(
            producer, f"SELECT {ENVELOPE_SQL} FROM events WHERE type = %s", (event_type,)
        )[0]
        envelope = {**json.loads(body), "event_id": str(uuid.uuid4())}
        with Connection(self.amqp_uri) as conn:
            conn.Producer().publish(
                json.dumps(envelope),
                exchange=Exchange(f"{producer}.events", type="topic", durable=True),
                routing_key=event_type,
                content_type="application/json",
                delivery_mode=2,
            )
        wait_until(
            lambda: self.scalar(
                consumer,
                "SELECT count(*) FROM processed_events WHERE event_id = %s",
                (envelope["event_id"],),
            ),
            f"{consumer} handles the redelivered {event_type}",
        )
        return envelope["event_id"]

    def dead_letters(self) -> dict[str, list]:
        """Every service's parked events: a producer/consumer contract mismatch."""
        parked = {}
        for service in SERVICES:
            rows = self.rows(
                service, "SELECT consumer, routing_key, error FROM dead_letters ORDER BY id"
            )
            if rows:
                parked[service] = rows
        return parked

    def published_everything(self) -> bool:
        """Every service's relay has published its whole log."""
        return all(
            self.scalar(
                service,
                "SELECT (SELECT coalesce(max(position), 0) FROM events)"
                " <= (SELECT coalesce(max(position), 0) FROM relay_position WHERE relay = %s)",
                (f"{service}.events",),
            )
            for service in SERVICES
        )

    def idle(self) -> bool:
        return not any(self.container(service)._worker_threads for service in SERVICES)

    def settle(self, quiet: float = 0.6, timeout: float = 15.0) -> None:
        """Until every log is published and no service has run a worker for ``quiet``
        seconds: longer than the consumers' retry delays, so an event between two attempts
        is not taken for a handled one."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if self.published_everything() and self.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet:
                    return
            else:
                quiet_since = None
            eventlet.sleep(0.05)
        raise AssertionError(f"the marketplace did not settle within {timeout}s")

    def assert_healthy(self) -> None:
        """Once everything is delivered: no dead letter anywhere, and escrow's ledger keeps
        every invariant."""
        self.settle()
        assert self.dead_letters() == {}
        check_database(self.dsns["escrow"])  # raises LedgerInvariantError on any breach

    def ledger_balance(self, as_: User, account: str) -> int:
        with as_.rpc() as rpc:
            return rpc.escrow.ledger(account=account, currency="USD")["balance"]

    def deposit(self, client: User, operator: User, amount: int) -> None:
        """A client deposit, settled by the sandbox provider on the operator's word."""
        with client.rpc() as rpc:
            deposit = rpc.escrow.deposit(amount=usd(amount))
        with operator.rpc() as rpc:
            rpc.escrow.confirm_provider_payment(
                operation="deposit", operation_id=deposit["deposit_id"]
            )


def usd(amount: int) -> dict:
    return {"amount": amount, "currency": "USD"}


@pytest.fixture
def market(runner_factory, rabbit_config, databases, tmp_path):
    manual_clock.set(START)
    amqp_uri = rabbit_config["AMQP_URI"]
    runners, dsns = {}, {}
    for service, cls in SERVICES.items():
        dsns[service] = databases.create(service)
        config = service_config(service, amqp_uri, dsns[service], str(tmp_path / "blobs"))
        runners[service] = runner_factory(config, cls)
    # identity last: its relay publishes the seeded operator's UserRegistered at once, and an
    # event published before a consumer's queue exists reaches nobody; the others fetch
    # identity's public keys only when they first check a token
    pool = eventlet.GreenPool()
    for service, runner in runners.items():
        if service != "identity":
            pool.spawn(runner.start)
    pool.waitall()
    runners["identity"].start()
    yield Marketplace(runners, dsns, amqp_uri)
    # each runner takes a second or two to stop; stopping them side by side saves the sum
    pool = eventlet.GreenPool()
    for runner in runners.values():
        pool.spawn(runner.stop)
    pool.waitall()
