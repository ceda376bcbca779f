"""Duplicates and reordering: after a hire-to-paid story on all six services, each consuming
service is rebuilt twice on fresh databases from the producers' logs alone: once fed every
event it subscribes to exactly once and in order (the clean run), once fed each of them twice,
with runs of neighbouring events shuffled (the disordered run, as a relay that re-publishes
after a lost confirm and a broker that redelivers would). The two end with the same read
models, row for row, and the same events in the service's own log, and the duplicates of the
live services' events change nothing on the live services either."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import timedelta
from urllib.parse import urlparse

import eventlet
import psycopg
from kombu import Connection, Exchange
from nameko.containers import ServiceContainer

from shared.relay import ENVELOPE_SQL
from tests.e2e.conftest import SERVICES, START, service_config, usd, wait_until
from tests.e2e.flows import hire, job_details
from tests.reliability.platform import missing_events, subscriptions

# bookkeeping tables of the event store, not read models: command results and the tracking
# of consumed events hold per-run ids and times by design
NOT_READ_MODELS = {
    "events",
    "processed_events",
    "dead_letters",
    "relay_position",
    "command_results",
    "schema_migrations",
}
# jobs' handlers act on jobs made by its own commands (a proposal counted on a job), so a
# jobs fed by events alone has nothing to apply them to; it is covered by the live check
OWN_STATE_CONSUMERS = {"jobs"}


# columns holding a position in the consuming service's own log (``position``,
# ``last_position``, ...): the order in which it happened to handle two independent events
# (two contracts opened at once) numbers them, so they are left out of the comparison
def order_column(name: str) -> bool:
    return name == "position" or name.endswith("_position")


WINDOW = 5  # events shuffled within each run of this many


def story(market) -> None:
    """A fixed-price hire paid out and rated, plus a second hire left open."""
    client = market.register("client", name="Cleo")
    freelancer = market.register("freelancer", name="Fred")
    other = market.register("freelancer", name="Otto")
    operator = market.operator()
    market.deposit(client, operator, 900_00)
    budget = {"type": "fixed", "amount": usd(500_00)}
    offer = {
        "kind": "fixed",
        "title": "Booking site",
        "milestones": [{"title": "The whole site", "amount": usd(400_00)}],
    }
    contract_id = hire(
        market,
        client,
        freelancer,
        job=job_details("Booking site for studios", budget),
        bid=usd(400_00),
        offer=offer,
        start=START,
    )
    hire(
        market,
        client,
        other,
        job=job_details("Second booking site", budget),
        bid=usd(400_00),
        offer=offer,
        start=START,
    )
    with client.rpc() as rpc:
        contract = rpc.escrow.get_contract(contract_id=contract_id)
        target = {
            "contract_id": contract_id,
            "milestone_id": contract["milestones"][0]["milestone_id"],
        }
        rpc.escrow.fund_milestone(**target)
    with freelancer.rpc() as rpc:
        rpc.escrow.submit_work(message="Done.", **target)
    with client.rpc() as rpc:
        rpc.escrow.approve_milestone(**target)
        rpc.escrow.end_contract(contract_id=contract_id, reason="work completed")
    market.clock.set(START + timedelta(hours=2))
    market.settle()


def envelopes(market, service: str) -> list[tuple[str, str, str]]:
    """(routing key, body, event id) of every event in ``service``'s log, by position."""
    return [
        (type_, body, str(event_id))
        for type_, body, event_id in market.rows(
            service, f"SELECT type, {ENVELOPE_SQL}, event_id FROM events ORDER BY position"
        )
    ]


def disorder(items: list, window: int, rng: random.Random) -> list:
    out = []
    for start in range(0, len(items), window):
        chunk = items[start : start + window]
        rng.shuffle(chunk)
        out += chunk
    return out


def publish(amqp_uri: str, messages: list[tuple[str, str, str]]) -> None:
    """``(producer, routing key, body)`` to each producer's events exchange, in list order."""
    with Connection(amqp_uri) as conn:
        producer = conn.Producer()
        for source, routing_key, body in messages:
            producer.publish(
                body,
                exchange=Exchange(f"{source}.events", type="topic", durable=True),
                routing_key=routing_key,
                content_type="application/json",
                delivery_mode=2,
                retry=True,
            )


def snapshot(dsn: str) -> dict[str, list]:
    """Every read-model table's rows (sorted), and the service's own events' content."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
            if name not in NOT_READ_MODELS
        ]
        found = {}
        for table in tables:
            columns = [
                name
                for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
                    (table,),
                )
                if not order_column(name)
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            found[table] = sorted(
                repr(row) for row in conn.execute(f'SELECT {listed} FROM "{table}"')
            )
        # the same events, each in the same stream; two independent events of one stream
        # (two jobs noted on a member) may take their versions in either order
        found["events (stream, type, data)"] = sorted(
            repr(row) for row in conn.execute("SELECT stream, type, data FROM events")
        )
    return found


def differences(first: dict[str, list], second: dict[str, list]) -> dict[str, tuple]:
    """Per table that differs: (a few rows only in ``first``, a few only in ``second``)."""
    return {
        table: (
            sorted(set(rows) - set(second.get(table, [])))[:3],
            sorted(set(second.get(table, [])) - set(rows))[:3],
        )
        for table, rows in first.items()
        if rows != second.get(table)
    }


class Feed:
    """One consuming service on a fresh database and vhost, fed only by published events."""

    def __init__(self, service, market, databases, rabbit_manager, amqp_base, blobs, attempts):
        self.service = service
        uri = urlparse(amqp_base)
        self.rabbit_manager = rabbit_manager
        self.vhost = f"dup_{uuid.uuid4().hex[:10]}"
        rabbit_manager.create_vhost(self.vhost)
        rabbit_manager.set_vhost_permissions(self.vhost, uri.username or "guest", ".*", ".*", ".*")
        self.amqp_uri = f"{uri.scheme}://{uri.netloc}/{self.vhost}"
        self.dsn = databases.create(service)
        config = service_config(service, self.amqp_uri, self.dsn, blobs)
        config["CONSUMER_MAX_ATTEMPTS"] = attempts
        config["CONSUMER_RETRY_DELAYS_MS"] = "50,100,200,400"
        self.container = ServiceContainer(SERVICES[service], config)
        self.container.start()

    def processed(self) -> int:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(
                "SELECT (SELECT count(*) FROM processed_events)"
                " + (SELECT count(*) FROM dead_letters)"
            ).fetchone()[0]

    def settle(self, expected: int, timeout: float = 30.0) -> None:
        wait_until(lambda: self.processed() >= expected, f"{self.service} consumes", timeout)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 0.8:  # no worker for longer than a retry
            if self.container._worker_threads:
                quiet_since = time.monotonic()
            eventlet.sleep(0.05)

    def close(self) -> None:
        self.container.stop()
        self.rabbit_manager.delete_vhost(self.vhost)


def test_duplicated_and_reordered_events_leave_read_models_as_a_clean_run(
    market, databases, rabbit_manager, request, tmp_path, crash_tally
):
    story(market)
    missing, checked = missing_events(market.dsns)
    assert missing == [], "the live run lost events"
    amqp_base = request.config.getoption("RABBIT_AMQP_URI")
    subs = subscriptions()
    logs = {service: envelopes(market, service) for service in SERVICES}
    rng = random.Random(12)
    consuming = sorted({s.service for s in subs})
    assert consuming, "no service consumes events"
    for service in sorted(set(consuming) - OWN_STATE_CONSUMERS):
        wanted = {(s.source, s.event_type) for s in subs if s.service == service}
        handlers = {}  # (source, type) -> how many of the service's handlers take it
        for s in subs:
            if s.service == service:
                handlers[(s.source, s.event_type)] = handlers.get((s.source, s.event_type), 0) + 1
        # the clean run's order: as the events were recorded across the producers
        ordered = sorted(
            (
                (json.loads(body)["recorded_at"], source, json.loads(body)["position"]),
                source,
                type_,
                body,
            )
            for source in SERVICES
            for type_, body, _ in logs[source]
            if (source, type_) in wanted
        )
        clean_messages = [(source, type_, body) for _, source, type_, body in ordered]
        expected = sum(handlers[(source, type_)] for source, type_, _ in clean_messages)
        assert expected > 0, service

        runs = {}
        for name, messages, attempts in (
            ("clean", clean_messages, 3),
            ("disordered", disorder(clean_messages * 2, WINDOW, rng), 8),
        ):
            feed = Feed(
                service, market, databases, rabbit_manager, amqp_base, str(tmp_path), attempts
            )
            try:
                publish(feed.amqp_uri, messages)
                feed.settle(expected)
                with psycopg.connect(feed.dsn, autocommit=True) as conn:
                    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
                    assert (
                        conn.execute("SELECT count(*) FROM processed_events").fetchone()[0]
                        == expected
                    )
                runs[name] = snapshot(feed.dsn)
            finally:
                feed.close()
            crash_tally.duplicates_delivered += len(messages) - len(clean_messages)
        differing = differences(runs["clean"], runs["disordered"])
        assert differing == {}, (
            f"{service}: tables differ after duplicates and reordering: {differing}"
        )

    # the live services: every consumed event delivered again, shuffled, changes nothing
    before = {service: snapshot(market.dsns[service]) for service in consuming}
    again = disorder(
        [
            (source, type_, body)
            for source in SERVICES
            for type_, body, _ in logs[source]
            if any(s.source == source and s.event_type == type_ for s in subs)
        ],
        WINDOW * 4,
        rng,
    )
    publish(market.amqp_uri, again)
    crash_tally.duplicates_delivered += len(again)
    crash_tally.events_checked += checked
    market.settle()
    assert market.dead_letters() == {}
    for service in consuming:
        changed = differences(before[service], snapshot(market.dsns[service]))
        assert changed == {}, f"{service}: duplicates changed the live read models: {changed}"
