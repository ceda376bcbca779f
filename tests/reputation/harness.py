"""Driving the reputation service under test: producer-shaped events, RPC as a user, waits.

Events of escrow, identity and jobs are published to their ``<service>.events`` exchanges
exactly as their relays would (the envelope with the producer's own data fields), so the
service's real consumers take them from RabbitMQ.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import eventlet
import psycopg
from kombu import Connection, Exchange
from nameko.testing.services import entrypoint_hook

from shared.clock import iso, manual_clock

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
FREELANCER_CRITERIA = {
    "skills": 5,
    "quality": 5,
    "availability": 4,
    "deadlines": 5,
    "communication": 4,
    "cooperation": 5,
}
CLIENT_CRITERIA = {"clarity": 4, "communication": 5, "payment_promptness": 5, "cooperation": 4}


def usd(minor: int) -> dict:
    return {"amount": minor, "currency": "USD"}


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        eventlet.sleep(interval)
    raise AssertionError("condition not met in time")


class Harness:
    """One running reputation container, its database and broker vhost."""

    def __init__(self, container, dsn: str, amqp_uri: str, token_mint):
        self.container = container
        self.dsn = dsn
        self.amqp_uri = amqp_uri
        self.mint = token_mint
        self.published: list[dict] = []  # every envelope sent, in order

    # -- database ----------------------------------------------------------------------

    def rows(self, sql: str, params=None) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params=None):
        return self.rows(sql, params)[0][0]

    def log_length(self) -> int:
        return self.scalar("SELECT count(*) FROM events")

    def stream(self, stream: str) -> list[tuple[str, str, dict]]:
        return self.rows(
            "SELECT event_id::text, type, data FROM events WHERE stream = %s ORDER BY version",
            (stream,),
        )

    # -- events from other services ----------------------------------------------------

    def envelope(self, source: str, type_: str, stream: str, data: dict, event_id=None) -> dict:
        return {
            "event_id": event_id or str(uuid.uuid4()),
            "stream": stream,
            "version": 1,
            "position": len(self.published) + 1,
            "type": type_,
            "schema_version": 1,
            "data": data,
            "metadata": {"correlation_id": str(uuid.uuid4())},
            "recorded_at": iso(manual_clock.now()),
            "source": source,
        }

    def publish(self, envelope: dict, wait: bool = True) -> str:
        body = {k: v for k, v in envelope.items() if k != "source"}
        with Connection(self.amqp_uri) as conn:
            conn.Producer().publish(
                json.dumps(body),
                exchange=Exchange(f"{envelope['source']}.events", type="topic", durable=True),
                routing_key=envelope["type"],
                content_type="application/json",
                delivery_mode=2,
            )
        self.published.append(envelope)
        if wait:
            self.wait_processed(envelope["event_id"])
        return envelope["event_id"]

    def wait_processed(self, event_id: str) -> None:
        def done():
            handled = self.scalar(
                "SELECT count(*) FROM processed_events WHERE event_id = %s", (event_id,)
            )
            parked = self.rows("SELECT error FROM dead_letters WHERE event_id = %s", (event_id,))
            if parked:
                raise AssertionError(f"event parked: {parked[0][0]}")
            return handled

        wait_until(done)

    def redeliver(self, envelope: dict) -> bool:
        """Hand an already consumed event to its consumer again; True if it was applied."""
        method = CONSUMERS[(envelope["source"], envelope["type"])]
        body = {k: v for k, v in envelope.items() if k != "source"}
        with entrypoint_hook(self.container, method) as handle:
            return handle(json.loads(json.dumps(body)))

    # -- RPC ---------------------------------------------------------------------------

    def call(self, method: str, user: str | None, *roles: str, **kwargs):
        context = self.mint.context(user, *roles) if user else {}
        with entrypoint_hook(self.container, method, context_data=context) as rpc:
            return rpc(**kwargs)

    def fire_deadlines(self) -> int:
        with entrypoint_hook(self.container, "fire_deadlines") as fire:
            return fire()

    # -- a contract's life as escrow tells it --------------------------------------------

    def register(self, user_id: str, roles: list[str], at: datetime) -> str:
        data = {
            "user_id": user_id,
            "roles": roles,
            "display_name": user_id.title(),
            "registered_at": iso(at),
            "by": user_id,
        }
        return self.publish(self.envelope("identity", "UserRegistered", f"user-{user_id}", data))

    def open_contract(self, cid: str, client: str, freelancer: str, at: datetime) -> str:
        data = {
            "contract_id": cid,
            "offer_id": f"offer-{cid}",
            "proposal_id": f"proposal-{cid}",
            "job_id": f"job-{cid}",
            "client_id": client,
            "freelancer_id": freelancer,
            "kind": "fixed",
            "currency": "USD",
            "start_date": None,
            "fees": {"freelancer_fee_bps": 1000, "client_fee_bps": 300},
            "hourly_rate": None,
            "weekly_limit_hours": None,
            "manual_time_allowed": False,
            "opened_at": iso(at),
        }
        return self.publish(self.envelope("escrow", "ContractOpened", f"contract-{cid}", data))

    def release(self, cid: str, client: str, freelancer: str, gross: int, at: datetime) -> str:
        fee = gross // 10
        data = {
            "contract_id": cid,
            "client_id": client,
            "freelancer_id": freelancer,
            "milestone_id": f"m-{cid}-{len(self.published)}",
            "payment_id": f"pay-{cid}-{len(self.published)}",
            "gross": usd(gross),
            "net": usd(gross - fee),
            "fee": usd(fee),
            "automatic": False,
            "released_at": iso(at),
            "security_period_seconds": 432000,
            "available_at": iso(at + 5 * DAY),
        }
        return self.publish(self.envelope("escrow", "MilestoneReleased", f"contract-{cid}", data))

    def end(self, cid: str, client: str, freelancer: str, at: datetime) -> str:
        data = {
            "contract_id": cid,
            "job_id": f"job-{cid}",
            "client_id": client,
            "freelancer_id": freelancer,
            "ended_by": client,
            "reason": "The work is done.",
            "ended_at": iso(at),
        }
        return self.publish(self.envelope("escrow", "ContractEnded", f"contract-{cid}", data))

    def ended_contract(self, cid, client, freelancer, started, ended, gross=None) -> None:
        self.open_contract(cid, client, freelancer, started)
        if gross:
            self.release(cid, client, freelancer, gross, ended - DAY)
        self.end(cid, client, freelancer, ended)


CONSUMERS = {
    ("escrow", "ContractOpened"): "track_opened_contract",
    ("escrow", "MilestoneReleased"): "note_milestone_payment",
    ("escrow", "HourlyWeekReleased"): "note_hourly_payment",
    ("escrow", "BonusPaid"): "note_bonus_payment",
    ("escrow", "EscrowRefunded"): "note_escrow_refund",
    ("escrow", "DisputeResolved"): "note_dispute_outcome",
    ("escrow", "ContractEnded"): "open_feedback_window",
    ("identity", "UserRegistered"): "note_member_registered",
    ("jobs", "JobPublished"): "note_job_posted",
}


def feedback(contract_id: str, side_criteria: dict, rating: int = 5, recommend: int = 10, **extra):
    return {
        "contract_id": contract_id,
        "rating": rating,
        "criteria": dict(side_criteria),
        "comment": extra.pop("comment", "Good to work with."),
        "private_feedback": {"end_reason": "work_completed", "would_recommend": recommend},
        **extra,
    }
