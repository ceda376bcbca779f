"""Relay publishing, confirmed: events/s from the log to RabbitMQ, with nameko's dispatch as peer.

``relay_confirmed``: the log holds N events; one ``EventRelay.drain()`` publishes them all to
the ``<service>.events`` exchange (a durable queue bound to it, so every message is routed
and persisted), waiting for publisher confirms per batch and storing its position.
``nameko_dispatch``: the same messages sent the way nameko's ``EventDispatcher`` sends them
(``nameko.amqp.publish.Publisher`` with confirms), one confirm per message.

The result is appended to ``bench/out/eventstore.json`` as the ``relay_confirmed`` case.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from kombu import Connection, Exchange, Queue
from nameko.amqp.publish import Publisher

from bench.common import Context, throwaway_database, write_json
from shared.domain import NewEvent
from shared.eventstore import PostgresEventStore
from shared.relay import EventRelay, encode_event

NAME = "relay"
TARGET_EVENTS_PER_S = 5000


def amqp_uri() -> str:
    return os.environ.get("MARKETPLACE_AMQP_URI", "pyamqp://guest:guest@127.0.0.1:5672/")


def run(ctx: Context) -> dict[str, Any]:
    events = ctx.size(50_000, 3_000)
    peer_events = ctx.size(5_000, 500)
    service = f"benchrelay{uuid.uuid4().hex[:8]}"
    exchange = Exchange(f"{service}.events", type="topic", durable=True)
    queue = Queue(f"{service}-sink", exchange=exchange, routing_key="#", durable=True)
    with throwaway_database("relay") as dsn, Connection(amqp_uri()) as conn:
        queue(conn.default_channel).declare()
        try:
            store = PostgresEventStore.connect(dsn, max_size=1)
            data = {
                "title": "Logo for a bakery",
                "budget": {"amount": 50000, "currency": "USD"},
                "skills": ["branding"],
            }
            for start in range(0, events, 1000):
                store.append(
                    [
                        NewEvent("JobPosted", {**data, "n": i}, stream=f"job-{i}")
                        for i in range(start, min(start + 1000, events))
                    ]
                )
            rows = [
                (
                    e.stream,
                    e.version,
                    e.position,
                    e.event_id,
                    e.type,
                    e.schema_version,
                    e.data,
                    e.metadata,
                    e.recorded_at,
                )
                for e in store.read_all(0, peer_events)
            ]
            store.close()

            relay = EventRelay(dsn, amqp_uri(), service, batch_size=1000)
            started = time.perf_counter()
            relayed = relay.drain()
            relay_seconds = time.perf_counter() - started
            relay.close()
            assert relayed == events

            publisher = Publisher(amqp_uri(), use_confirms=True)
            started = time.perf_counter()
            for row in rows:
                routing_key, body, headers = encode_event(row)
                publisher.publish(
                    json.loads(body), exchange=exchange, routing_key=routing_key, headers=headers
                )
            peer_seconds = time.perf_counter() - started
        finally:
            queue(conn.default_channel).delete()
            exchange(conn.default_channel).delete()

    ours = events / relay_seconds
    peer = len(rows) / peer_seconds
    case = {
        "case": "relay_confirmed",
        "ours_events_per_s": round(ours, 1),
        "peer_events_per_s": round(peer, 1),
        "peer": "nameko Publisher, one confirm per message",
        "ratio": round(ours / peer, 2),
        "events": events,
    }
    _append_to_eventstore_json(ctx, case)
    print(
        f"relay_confirmed: {ours:,.0f} events/s; nameko dispatch: {peer:,.0f} events/s ({ours / peer:.1f}x)"
    )
    verdict = "met" if ours >= TARGET_EVENTS_PER_S else "MISSED"
    print(
        f"target relay_confirmed: >= {TARGET_EVENTS_PER_S:,} events/s (got {ours:,.0f}): {verdict}"
    )
    return {"machine": ctx.machine, "cases": [case]}


def _append_to_eventstore_json(ctx: Context, case: dict) -> None:
    path = ctx.out_dir / "eventstore.json"
    if not path.exists():
        return
    result = json.loads(path.read_text())
    result["cases"] = [c for c in result["cases"] if c["case"] != case["case"]] + [case]
    write_json("eventstore", result, ctx.out_dir)
