"""Drives a running escrow container the way callers do: RPCs with tokens, bidding's
events on the broker, deadlines through the timer entrypoint."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta

import eventlet
import psycopg
from kombu import Connection, Exchange
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from services.escrow.audit import check_database
from services.escrow.configuration import EscrowConfig
from services.escrow.domain import contract_id_for_offer
from services.escrow.policies import deadline_handlers
from shared.clock import iso, manual_clock
from shared.storage import EventStore, Storage
from shared.timers import fire_due

OPERATOR = "op-1"
AUDITOR = "audit-1"


def usd(amount: int) -> dict:
    return {"amount": amount, "currency": "USD"}


class EscrowDriver:
    def __init__(self, container, mint, config):
        self.container = container
        self.mint = mint
        self.config = config
        self.dsn = config["DB_DSN"]
        self.clock = manual_clock
        self._db: psycopg.Connection | None = None

    # -- calls --------------------------------------------------------------------------

    def call(self, user: str, roles: tuple[str, ...] | str, method: str, **kwargs):
        roles = (roles,) if isinstance(roles, str) else roles
        context = self.mint.context(user, *roles)
        with entrypoint_hook(self.container, method, context_data=context) as hook:
            return hook(**kwargs)

    def rpc(self, user: str, roles: tuple[str, ...] | str, method: str, **kwargs):
        """Call over the broker (safe to run concurrently, unlike ``entrypoint_hook``,
        whose waiters can pick up another worker's result of the same method)."""
        roles = (roles,) if isinstance(roles, str) else roles
        context = self.mint.context(user, *roles)
        with ServiceRpcProxy("escrow", self.config, context_data=context, timeout=30) as proxy:
            return getattr(proxy, method)(**kwargs)

    def client(self, user: str, method: str, **kwargs):
        return self.call(user, "client", method, **kwargs)

    def freelancer(self, user: str, method: str, **kwargs):
        return self.call(user, "freelancer", method, **kwargs)

    def operator(self, method: str, **kwargs):
        return self.call(OPERATOR, "operator", method, **kwargs)

    def fire_deadlines(self) -> int:
        with entrypoint_hook(self.container, "fire_deadlines") as hook:
            return hook()

    def fire_deadlines_beside(self) -> int:
        """What the timer entrypoint runs, called directly on the container's store: for
        racing the timer against RPCs (``entrypoint_hook``s do not overlap safely)."""
        store = next(d for d in self.container.dependencies if isinstance(d, EventStore))
        config = next(d for d in self.container.dependencies if isinstance(d, EscrowConfig))
        return fire_due(Storage(store.store, {}), deadline_handlers(config.settings))

    def move_to(self, when: datetime) -> None:
        self.clock.set(when)

    def advance(self, **kwargs) -> None:
        self.clock.advance(timedelta(**kwargs))

    # -- the database -------------------------------------------------------------------

    @property
    def db(self) -> psycopg.Connection:
        """One reading connection for the test (closed by the ``escrow`` fixture)."""
        if self._db is None or self._db.closed:
            self._db = psycopg.connect(self.dsn, autocommit=True)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def scalar(self, sql: str, params=None):
        return self.db.execute(sql, params).fetchone()[0]

    def rows(self, sql: str, params=None) -> list[tuple]:
        return self.db.execute(sql, params).fetchall()

    def log_length(self) -> int:
        return self.scalar("SELECT count(*) FROM events")

    def count(self, event_type: str) -> int:
        return self.scalar("SELECT count(*) FROM events WHERE type = %s", (event_type,))

    def check(self):
        """Every ledger invariant, against the database."""
        return check_database(self.dsn)

    def wait_until(self, predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            eventlet.sleep(0.05)
        raise AssertionError("condition not met in time")

    # -- bidding's events ---------------------------------------------------------------

    def publish_offer_accepted(self, data: dict, event_id: str | None = None) -> str:
        envelope = {
            "event_id": event_id or str(uuid.uuid4()),
            "stream": f"offer-{data['offer_id']}",
            "version": 2,
            "position": 7,
            "type": "OfferAccepted",
            "schema_version": 1,
            "data": data,
            "metadata": {"correlation_id": str(uuid.uuid4())},
            "recorded_at": iso(self.clock.now()),
        }
        with Connection(self.config["AMQP_URI"]) as conn:
            conn.Producer().publish(
                json.dumps(envelope),
                exchange=Exchange("bidding.events", type="topic", durable=True),
                routing_key="OfferAccepted",
                content_type="application/json",
            )
        return envelope["event_id"]

    def open_contract(self, data: dict) -> str:
        """Publish ``OfferAccepted`` and wait until escrow shows the contract."""
        contract_id = contract_id_for_offer(data["offer_id"])
        self.publish_offer_accepted(data)
        self.wait_until(
            lambda: (
                self.scalar(
                    "SELECT count(*) FROM escrow_contracts WHERE contract_id = %s", (contract_id,)
                )
                == 1
            )
        )
        return contract_id

    # -- money --------------------------------------------------------------------------

    def fund_wallet(self, user: str, amount: int) -> None:
        deposit = self.client(user, "deposit", amount=usd(amount))
        self.operator(
            "confirm_provider_payment", operation="deposit", operation_id=deposit["deposit_id"]
        )


def fixed_offer(client="client-1", freelancer="free-1", amounts=(10_000,), **extra) -> dict:
    return {
        "offer_id": str(uuid.uuid4()),
        "proposal_id": str(uuid.uuid4()),
        "job_id": str(uuid.uuid4()),
        "client_id": client,
        "freelancer_id": freelancer,
        "kind": "fixed",
        "currency": "USD",
        "start_date": "2026-01-05",
        "milestones": [
            {"title": f"part {i + 1}", "amount": usd(a), "due_date": None}
            for i, a in enumerate(amounts)
        ],
        **extra,
    }


def hourly_offer(client="client-1", freelancer="free-1", rate=5_000, limit=10, manual=True) -> dict:
    return {
        "offer_id": str(uuid.uuid4()),
        "proposal_id": None,
        "job_id": str(uuid.uuid4()),
        "client_id": client,
        "freelancer_id": freelancer,
        "kind": "hourly",
        "currency": "USD",
        "start_date": "2026-01-05",
        "hourly_rate": usd(rate),
        "weekly_limit_hours": limit,
        "manual_time_allowed": manual,
    }
