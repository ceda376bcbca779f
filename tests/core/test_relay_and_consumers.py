"""The relay and the consumers on real PostgreSQL and RabbitMQ, inside real nameko services."""

from __future__ import annotations

import json
import time

import eventlet
import psycopg
import pytest
from kombu import Connection, Exchange
from nameko.testing.services import entrypoint_hook

from shared.consumers import list_dead_letters, replay_dead_letter
from shared.relay import EventRelay
from tests.core import services_for_tests as svc


def wait_until(predicate, timeout=15.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        eventlet.sleep(interval)
    raise AssertionError("condition not met in time")


def scalar(dsn, sql, params=None):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


@pytest.fixture
def dsns(databases):
    producer, tally = databases.create("core"), databases.create("core")
    with psycopg.connect(tally, autocommit=True) as conn:
        conn.execute("CREATE TABLE tally (n integer NOT NULL, event_id uuid NOT NULL)")
    return {"producer": producer, "tally": tally}


def config(rabbit_config, dsn, **extra):
    return {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "DB_DSN": dsn,
        "AUTH_FETCH_KEYS": "false",
        "RELAY_POLL_INTERVAL": 0.2,
        "CONSUMER_RETRY_DELAYS_MS": "100,200",
        **extra,
    }


@pytest.fixture
def running(container_factory, rabbit_config, dsns):
    svc.FAILURES.clear()
    tally = container_factory(svc.Tally, config(rabbit_config, dsns["tally"]))
    tally.start()
    producer = container_factory(svc.Producer, config(rabbit_config, dsns["producer"]))
    producer.start()
    return producer, tally


def note(container, n, secret=False):
    with entrypoint_hook(container, "note") as call:
        return call(n=n, secret=secret)


def test_events_reach_the_consumer_in_order_once(running, dsns):
    producer, _ = running
    for n in range(1, 21):
        note(producer, n)
    wait_until(lambda: scalar(dsns["tally"], "SELECT count(*) FROM tally") == 20)
    with psycopg.connect(dsns["tally"]) as conn:
        ns = [r[0] for r in conn.execute("SELECT n FROM tally ORDER BY n")]
    assert ns == list(range(1, 21))
    wait_until(lambda: scalar(dsns["producer"], "SELECT position FROM relay_position") == 20)


def test_private_events_are_not_published(running, dsns):
    producer, _ = running
    note(producer, 1, secret=True)
    note(producer, 2)
    wait_until(lambda: scalar(dsns["tally"], "SELECT count(*) FROM tally") == 1)
    wait_until(lambda: scalar(dsns["producer"], "SELECT position FROM relay_position") == 2)
    assert scalar(dsns["tally"], "SELECT n FROM tally") == 2


def test_relay_killed_between_publish_and_saving_position_republishes_and_effect_applies_once(
    container_factory, rabbit_config, dsns
):
    tally = container_factory(svc.Tally, config(rabbit_config, dsns["tally"]))
    tally.start()
    producer_cfg = config(rabbit_config, dsns["producer"], RELAY_ENABLED="false")
    producer = container_factory(svc.Producer, producer_cfg)
    producer.start()
    for n in range(1, 6):
        note(producer, n)

    crashing = EventRelay(dsns["producer"], rabbit_config["AMQP_URI"], "producer")

    def die(position):
        raise SystemExit("killed after publishing, before saving the position")

    crashing._save_position = die
    with pytest.raises(SystemExit):
        crashing.publish_pending()
    crashing.close()
    assert scalar(dsns["producer"], "SELECT count(*) FROM relay_position") == 0

    restarted = EventRelay(dsns["producer"], rabbit_config["AMQP_URI"], "producer")
    assert restarted.drain() == 5
    restarted.close()
    # every event arrived twice; each effect happened once
    wait_until(lambda: scalar(dsns["tally"], "SELECT count(*) FROM processed_events") == 5)
    eventlet.sleep(0.5)
    assert scalar(dsns["tally"], "SELECT count(*) FROM tally") == 5
    assert scalar(dsns["tally"], "SELECT count(DISTINCT n) FROM tally") == 5


def test_a_commit_announced_while_the_relay_writes_its_position_is_published_in_that_drain(
    container_factory, rabbit_config, dsns
):
    """The relay stops reading when a batch comes back short, trusting NOTIFY to announce
    later commits. A commit whose NOTIFY reaches the relay's connection in the middle of one
    of its own queries is taken by psycopg there, not by the idle wait: the drain must see
    it and read again, or the event would sit until the fallback poll."""
    producer = container_factory(
        svc.Producer, config(rabbit_config, dsns["producer"], RELAY_ENABLED="false")
    )
    producer.start()
    note(producer, 1)
    relay = EventRelay(dsns["producer"], rabbit_config["AMQP_URI"], "producer", poll_interval=30)
    save = relay._save_position
    appended = []

    def save_after_another_commit(position):
        if not appended:
            appended.append(note(producer, 2))  # commits, and NOTIFYs, before our write
        save(position)

    relay._save_position = save_after_another_commit
    try:
        assert relay.drain() == 2
        assert scalar(dsns["producer"], "SELECT position FROM relay_position") == 2
        # caught up: a third commit is announced on the idle connection and wakes the wait
        note(producer, 3)
        started = time.monotonic()
        relay._wait_for_appends(30)
        assert time.monotonic() - started < 5
        assert relay.drain() == 1
        assert relay.published == 3
    finally:
        relay.close()


def test_a_busy_relay_writes_its_position_once_per_interval_and_when_it_stops(
    container_factory, rabbit_config, dsns
):
    """Each commit is a batch of its own, but the position is written once per
    ``save_interval`` while commits keep coming, then once the log goes quiet, and the
    position published since the last write is written when the relay stops."""
    producer = container_factory(
        svc.Producer, config(rabbit_config, dsns["producer"], RELAY_ENABLED="false")
    )
    producer.start()
    stored = "SELECT position FROM relay_position"
    relay = EventRelay(
        dsns["producer"],
        rabbit_config["AMQP_URI"],
        "producer",
        poll_interval=0.2,
        save_interval=1.5,
    )
    writes = []
    save = relay._save_position
    relay._save_position = lambda position: (writes.append(position), save(position))
    runner = eventlet.spawn(relay.run)
    try:
        for n in range(1, 21):
            note(producer, n)
        wait_until(lambda: relay.published == 20)
        wait_until(lambda: scalar(dsns["producer"], stored) == 20, timeout=5)
        assert writes[0] == 1 and writes[-1] == 20
        assert len(writes) < 10  # 20 batches, each its own commit: not one write each
        relay.save_interval = 60  # from now on, only the stop writes
        note(producer, 21)
        wait_until(lambda: relay.published == 21)
        eventlet.sleep(0.5)
        assert scalar(dsns["producer"], stored) == 20
    finally:
        relay.stop()
        runner.wait()
    assert scalar(dsns["producer"], stored) == 21


def test_a_relay_that_takes_the_lead_again_reads_the_position_stored_meanwhile(
    container_factory, rabbit_config, dsns
):
    """The position is kept in memory while leading; leading again after losing the lock
    (its connection) must start from what the other relay stored since, not from memory."""
    producer = container_factory(
        svc.Producer, config(rabbit_config, dsns["producer"], RELAY_ENABLED="false")
    )
    producer.start()
    first = EventRelay(dsns["producer"], rabbit_config["AMQP_URI"], "producer")
    second = EventRelay(dsns["producer"], rabbit_config["AMQP_URI"], "producer")
    try:
        note(producer, 1)
        assert first.try_lead() and first.drain() == 1
        first.close()  # its lock goes with its connection
        wait_until(second.try_lead, timeout=5)
        note(producer, 2)
        note(producer, 3)
        assert second.drain() == 2
        second.close()
        wait_until(first.try_lead, timeout=5)
        note(producer, 4)
        assert first.drain() == 1  # only the fourth: it resumed at the stored 3
        assert scalar(dsns["producer"], "SELECT position FROM relay_position") == 4
    finally:
        first.close()
        second.close()


def test_a_handler_failing_three_times_is_parked_then_replays_once_fixed(
    running, dsns, rabbit_config
):
    producer, _ = running
    svc.FAILURES[7] = 3
    note(producer, 7)
    note(producer, 8)
    wait_until(lambda: scalar(dsns["tally"], "SELECT count(*) FROM dead_letters") == 1)
    (letter,) = list_dead_letters(dsns["tally"])
    assert letter["consumer"] == "tally.count_note"
    assert letter["attempts"] == 3
    assert "injected failure for 7" in letter["error"]
    assert svc.FAILURES[7] == 0
    assert scalar(dsns["tally"], "SELECT array_agg(n) FROM tally") == [8]

    # the handler is fixed (no more injected failures): replay from the dead letters
    assert replay_dead_letter(dsns["tally"], rabbit_config["AMQP_URI"], letter["id"])
    assert not replay_dead_letter(dsns["tally"], rabbit_config["AMQP_URI"], letter["id"])
    wait_until(lambda: scalar(dsns["tally"], "SELECT count(*) FROM tally") == 2)
    eventlet.sleep(0.3)
    assert sorted(scalar(dsns["tally"], "SELECT array_agg(n) FROM tally")) == [7, 8]
    assert list_dead_letters(dsns["tally"]) == []


def test_a_malformed_event_is_parked_at_once_and_the_consumer_keeps_going(
    running, dsns, rabbit_config
):
    producer, _ = running
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        conn.Producer().publish(
            json.dumps({"event_id": "not-a-uuid", "data": {"n": "x"}}),
            exchange=Exchange("producer.events", type="topic", durable=True),
            routing_key="Noted",
            content_type="application/json",
        )
    wait_until(lambda: scalar(dsns["tally"], "SELECT count(*) FROM dead_letters") == 1)
    (letter,) = list_dead_letters(dsns["tally"])
    assert letter["attempts"] == 1 and "malformed event" in letter["error"]
    note(producer, 3)
    wait_until(lambda: scalar(dsns["tally"], "SELECT count(*) FROM tally") == 1)


def test_only_one_relay_leads_and_another_takes_over_when_it_dies(dsns, rabbit_config):
    first = EventRelay(dsns["producer"], rabbit_config["AMQP_URI"], "producer")
    second = EventRelay(dsns["producer"], rabbit_config["AMQP_URI"], "producer")
    assert first.try_lead()
    assert not second.try_lead()
    first.close()  # its connection, and so its lock, goes once the server ends that session
    wait_until(second.try_lead, timeout=5)
    second.close()


def test_psycopg_queries_under_eventlet_run_concurrently(dsns):
    """Fails if psycopg's wait blocks the eventlet hub: five 0.5 s sleeps would take 2.5 s."""

    def sleep_in_database():
        with psycopg.connect(dsns["producer"]) as conn:
            conn.execute("SELECT pg_sleep(0.5)")

    started = time.monotonic()
    pool = eventlet.GreenPool()
    for _ in range(5):
        pool.spawn(sleep_in_database)
    pool.waitall()
    assert time.monotonic() - started < 1.5


def test_health_reports_the_relay_and_dead_letters(running, dsns):
    producer, _ = running
    note(producer, 1)
    wait_until(
        lambda: (
            scalar(dsns["producer"], "SELECT coalesce(max(position), 0) FROM relay_position") == 1
        )
    )
    with entrypoint_hook(producer, "health") as health:
        report = health()
    assert report["database"] == "ok" and report["log_head"] == 1
    assert report["relay_lag"] == 0 and report["dead_letters"] == 0
