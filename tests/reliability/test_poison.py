"""Poison messages: a malformed event on every consumer of every service is parked in that
service's ``dead_letters`` (never lost, never retried forever), and each consumer keeps
going: a hire-to-paid story afterwards reaches every consumer."""

from __future__ import annotations

import json
import uuid
from collections import Counter

from kombu import Connection, Exchange

from tests.e2e.conftest import START, usd, wait_until
from tests.e2e.flows import hire, job_details
from tests.reliability.platform import missing_events, subscriptions


def poison_bodies(event_type: str) -> list[tuple[str, str]]:
    """(name, body): an envelope whose data has an unknown field and none of its own, and a
    body that is not an envelope at all."""
    envelope = {
        "event_id": str(uuid.uuid4()),
        "stream": "poison-1",
        "version": 1,
        "position": 1,
        "type": event_type,
        "schema_version": 1,
        "data": {"poison": True},
        "metadata": {},
        "recorded_at": "2026-03-02T09:00:00.000000Z",
    }
    return [("bad data", json.dumps(envelope)), ("not an envelope", json.dumps(["poison"]))]


def test_a_malformed_event_on_every_consumer_is_parked_and_consumers_keep_going(
    market, crash_tally
):
    subs = subscriptions()
    assert subs
    sent = Counter()  # (service, consumer) -> poison messages it receives
    topics = sorted({(s.source, s.event_type) for s in subs})
    with Connection(market.amqp_uri) as conn:
        producer = conn.Producer()
        for source, event_type in topics:
            for _, body in poison_bodies(event_type):
                producer.publish(
                    body,
                    exchange=Exchange(f"{source}.events", type="topic", durable=True),
                    routing_key=event_type,
                    content_type="application/json",
                    delivery_mode=2,
                )
            for s in subs:
                if (s.source, s.event_type) == (source, event_type):
                    sent[(s.service, s.consumer)] += 2

    def parked() -> Counter:
        found = Counter()
        for service in {s.service for s in subs}:
            for (consumer,) in market.rows(service, "SELECT consumer FROM dead_letters"):
                found[(service, consumer.split(".", 1)[1])] += 1
        return found

    wait_until(lambda: parked() == sent, "every poison message parked", timeout=30)
    crash_tally.poison_parked += sum(sent.values())

    # every consumer keeps going: a whole story afterwards reaches each of them
    client = market.register("client", name="Cleo")
    freelancer = market.register("freelancer", name="Fred")
    operator = market.operator()
    market.deposit(client, operator, 500_00)
    contract_id = hire(
        market,
        client,
        freelancer,
        job=job_details("Booking site", {"type": "fixed", "amount": usd(500_00)}),
        bid=usd(400_00),
        offer={
            "kind": "fixed",
            "title": "Booking site",
            "milestones": [{"title": "The whole site", "amount": usd(400_00)}],
        },
        start=START,
    )
    with client.rpc() as rpc:
        rpc.escrow.end_contract(contract_id=contract_id, reason="work completed")
    market.settle()
    missing, checked = missing_events(market.dsns)
    assert missing == []
    assert parked() == sent  # nothing else parked
    crash_tally.events_checked += checked
