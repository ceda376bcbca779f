"""Two replicas of a service on one database and one broker: both serve RPC, every event is
handled once, one relay is active, deadlines fire once, and killing the active replica
hands the relay over within seconds with nothing lost."""

from __future__ import annotations

from datetime import timedelta

import eventlet
import psycopg
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from shared.observability import Metrics
from shared.relay import Relay
from shared.storage import EventStore, Storage
from shared.timers import fire_due, schedule
from tests.core import services_for_tests as svc
from tests.deploy.helpers import wait_until


class MeteredProducer(svc.Producer):
    metrics = Metrics()


class MeteredTally(svc.Tally):
    metrics = Metrics()


def scalar(dsn, sql, params=None):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


def dependency(container, kind):
    return next(d for d in container.dependencies if isinstance(d, kind))


def rpc_calls(container, method: str) -> float:
    return (
        dependency(container, Metrics).registry.get_sample_value(
            "marketplace_rpc_duration_seconds_count", {"service": "producer", "method": method}
        )
        or 0.0
    )


@pytest.fixture
def cluster(container_factory, rabbit_config, databases):
    svc.FAILURES.clear()
    producer_dsn, tally_dsn = databases.create("core"), databases.create("core")
    with psycopg.connect(tally_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE tally (n integer NOT NULL, event_id uuid NOT NULL)")

    def config(dsn):
        return {
            "AMQP_URI": rabbit_config["AMQP_URI"],
            "DB_DSN": dsn,
            "AUTH_FETCH_KEYS": "false",
            "RELAY_POLL_INTERVAL": 0.2,
            "CONSUMER_RETRY_DELAYS_MS": "100,200",
            "CLOCK": "manual",
        }

    tallies = [container_factory(MeteredTally, config(tally_dsn)) for _ in range(2)]
    producers = [container_factory(MeteredProducer, config(producer_dsn)) for _ in range(2)]
    for container in tallies + producers:
        container.start()
    return {
        "producers": producers,
        "tallies": tallies,
        "producer": producer_dsn,
        "tally": tally_dsn,
    }


def leaders(containers) -> list:
    return [c for c in containers if dependency(c, Relay).relay.is_leader]


def test_both_replicas_serve_rpc_and_each_event_is_handled_once(cluster, rabbit_config):
    producers = cluster["producers"]
    with ServiceRpcProxy("producer", rabbit_config) as proxy:
        for n in range(1, 41):
            proxy.note(n=n)
    # each replica counts a call just after sending its reply (worker_result hook)
    wait_until(lambda: sum(rpc_calls(c, "note") for c in producers) == 40)
    served = [rpc_calls(c, "note") for c in producers]
    assert all(count > 0 for count in served), served

    wait_until(lambda: scalar(cluster["tally"], "SELECT count(*) FROM tally") >= 40, timeout=60)
    eventlet.sleep(0.5)  # a duplicate would arrive now
    assert scalar(cluster["tally"], "SELECT count(*) FROM tally") == 40
    assert scalar(cluster["tally"], "SELECT count(DISTINCT n) FROM tally") == 40
    # the relay stores its position just after the broker's confirms
    wait_until(
        lambda: scalar(cluster["producer"], "SELECT position FROM relay_position") == 40,
        timeout=30,
    )

    # one relay per service is active, the other stands by
    wait_until(lambda: len(leaders(producers)) == 1, timeout=30)
    assert len(leaders(producers)) == 1
    wait_until(lambda: len(leaders(cluster["tallies"])) == 1, timeout=30)
    assert len(leaders(cluster["tallies"])) == 1


def test_deadlines_fire_once_across_replicas(cluster):
    dsn = cluster["producer"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE fired (id text NOT NULL, replica integer NOT NULL)")
    storages = [
        Storage(dependency(c, EventStore).store, {"actor": "timer"}) for c in cluster["producers"]
    ]
    now = storages[0].clock.now()
    with storages[0].transaction() as uow:
        for i in range(30):
            schedule(uow, f"d{i}", "reminder", now - timedelta(seconds=1), {"i": i})

    def tick(replica: int) -> int:
        def record(uow, payload, at):
            eventlet.sleep(0.01)  # let the other replica's timer run meanwhile
            uow.execute(
                "INSERT INTO fired (id, replica) VALUES (%s, %s)", (f"d{payload['i']}", replica)
            )

        return fire_due(storages[replica], {"reminder": record}, now=now)

    first, second = eventlet.spawn(tick, 0), eventlet.spawn(tick, 1)
    counts = [first.wait(), second.wait()]
    assert sum(counts) == 30
    assert scalar(dsn, "SELECT count(*) FROM fired") == 30
    assert scalar(dsn, "SELECT count(DISTINCT id) FROM fired") == 30
    assert scalar(dsn, "SELECT count(*) FROM deadlines WHERE fired_at IS NULL") == 0


def test_killing_the_active_relay_hands_over_with_nothing_lost(cluster, rabbit_config):
    producers = cluster["producers"]
    with ServiceRpcProxy("producer", rabbit_config) as proxy:
        for n in range(1, 11):
            proxy.note(n=n)
    wait_until(lambda: len(leaders(producers)) == 1, timeout=30)
    (leader,) = leaders(producers)
    (standby,) = [c for c in producers if c is not leader]

    leader.kill()
    # the standby polls for the lock every two poll intervals (0.4 s here)
    handover = wait_until(lambda: dependency(standby, Relay).relay.is_leader, timeout=30)
    assert handover < 10

    with ServiceRpcProxy("producer", rabbit_config) as proxy:
        for n in range(11, 31):
            proxy.note(n=n)
    wait_until(lambda: scalar(cluster["tally"], "SELECT count(*) FROM tally") >= 30, timeout=60)
    eventlet.sleep(0.5)
    assert scalar(cluster["tally"], "SELECT count(DISTINCT n) FROM tally") == 30
    assert scalar(cluster["tally"], "SELECT count(*) FROM tally") == 30
    # the relay stores its position just after the broker's confirms
    wait_until(
        lambda: scalar(cluster["producer"], "SELECT position FROM relay_position") == 30,
        timeout=30,
    )


def test_killing_a_consumer_replica_loses_no_event(cluster, rabbit_config):
    first, second = cluster["tallies"]
    with ServiceRpcProxy("producer", rabbit_config) as proxy:
        for n in range(1, 21):
            proxy.note(n=n)
        first.kill()
        for n in range(21, 41):
            proxy.note(n=n)
    wait_until(lambda: scalar(cluster["tally"], "SELECT count(*) FROM tally") >= 40, timeout=60)
    eventlet.sleep(0.5)
    assert scalar(cluster["tally"], "SELECT count(DISTINCT n) FROM tally") == 40
    assert scalar(cluster["tally"], "SELECT count(*) FROM tally") == 40
    survivor = dependency(second, Metrics).registry.get_sample_value(
        "marketplace_handler_duration_seconds_count",
        {"service": "tally", "handler": "count_note", "kind": "event"},
    )
    assert survivor >= 20  # everything noted after the kill, and whatever the dead one held
