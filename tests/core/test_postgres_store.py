"""What only the PostgreSQL store can show: database guards, migrations, canonical text,
idempotent commands, once-only consumption and deadlines."""

from __future__ import annotations

from datetime import timedelta

import eventlet
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.clock import ManualClock
from shared.domain import Aggregate, NewEvent
from shared.errors import Conflict, ValidationError
from shared.eventstore import PostgresEventStore, Projection
from shared.eventstore.hashing import canonical_text, chain_hash, digest_of_text, jsonb_text
from shared.migrate import migrate, migration_files
from shared.storage import Storage
from shared.timers import fire_due, schedule


@pytest.fixture
def dsn(databases):
    return databases.create("core")


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def store(dsn, clock):
    s = PostgresEventStore.connect(dsn, clock=clock, max_size=25)
    yield s
    s.close()


@pytest.fixture
def storage(store):
    return Storage(store, {"correlation_id": "corr-1"})


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET type = 'Forged'", "DELETE FROM events", "TRUNCATE events"],
)
def test_the_database_refuses_to_change_the_log(store, dsn, statement):
    store.append([NewEvent("Noted", {"n": 1}, stream="s-1")])
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
        assert conn.execute("SELECT count(*), min(type) FROM events").fetchone() == (1, "Noted")


def test_migrations_are_repeatable_without_harm(dsn):
    # the template already applied everything: running again applies nothing and keeps the data
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO relay_position (relay, position) VALUES ('x', 3)")
    assert migrate(dsn, "core") == []
    assert migrate(dsn, "core") == []
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT position FROM relay_position").fetchone() == (3,)
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [name for name, _ in migration_files("core")]
    assert names[:2] == ["shared/0001_eventstore.sql", "shared/0002_access.sql"]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**62), max_value=2**62)
    | st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(
                alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                max_size=6,
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


# the database is only read here, so sharing it across examples is harmless
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=json_values)
def test_python_canonical_text_matches_postgres_jsonb_text(dsn, value):
    with psycopg.connect(dsn, autocommit=True) as conn:
        printed = conn.execute(
            "SELECT %s::jsonb::text", (psycopg.types.json.Jsonb(value),)
        ).fetchone()[0]
    assert jsonb_text(value) == printed


def test_idempotent_command_returns_the_first_result_and_moves_nothing_twice(storage, store):
    def run(uow):
        recorded = uow.append([NewEvent("MoneyMoved", {"amount": 100}, stream="wallet-1")])
        return {"position": recorded[0].position}

    results = [
        storage.command("move", {"amount": 100}, run, idempotency_key="k-1", actor="u1")
        for _ in range(10)
    ]
    assert results == [{"position": 1}] * 10
    assert len(store.read_all()) == 1
    assert store.read_all()[0].metadata["idempotency_key"] == "k-1"
    with pytest.raises(Conflict, match="different arguments"):
        storage.command("move", {"amount": 999}, run, idempotency_key="k-1", actor="u1")
    # the same key from another caller is another command
    assert storage.command("move", {"amount": 100}, run, idempotency_key="k-1", actor="u2") == {
        "position": 2
    }


def test_concurrent_twins_under_one_key_apply_once(storage, store):
    def run(uow):
        eventlet.sleep(0.01)
        return {
            "position": uow.append([NewEvent("MoneyMoved", {"amount": 5}, stream="wallet-9")])[
                0
            ].position
        }

    pool = eventlet.GreenPool()
    results = list(
        pool.imap(
            lambda _: storage.command("move", {"a": 5}, run, idempotency_key="twin", actor="u"),
            range(10),
        )
    )
    assert len({r["position"] for r in results}) == 1
    assert len(store.read_all()) == 1


def test_a_failing_command_writes_nothing(storage, store):
    def run(uow):
        uow.append([NewEvent("MoneyMoved", {"amount": 5}, stream="wallet-1")])
        raise ValidationError("invalid input", {"amount": ["too much"]})

    with pytest.raises(ValidationError):
        storage.command("move", {}, run, idempotency_key="k", actor="u")
    assert store.read_all() == []
    assert storage.query("SELECT count(*) FROM command_results") == [(0,)]


def test_handle_once_applies_an_event_once(storage, store):
    applied = []

    def effect(uow):
        applied.append(1)
        uow.append([NewEvent("Counted", {}, stream="c-1")])

    event_id = "5b6f2a8e-9a43-4a57-9d6c-0f1a2b3c4d5e"
    assert storage.handle_once("counter", event_id, effect) is True
    assert storage.handle_once("counter", event_id, effect) is False
    assert storage.handle_once("other-consumer", event_id, effect) is True
    assert len(applied) == 2 and len(store.read_all()) == 2


def test_deadlines_fire_at_their_time_not_before(storage, clock):
    fired = []
    due = clock.now() + timedelta(days=14)
    with storage.transaction() as uow:
        schedule(uow, "auto-approve:m1", "auto_approve", due, {"milestone": "m1"})
        schedule(uow, "auto-approve:m1", "auto_approve", due, {"milestone": "m1"})  # no double

    def auto_approve(uow, payload, now):
        fired.append((payload["milestone"], now))

    handlers = {"auto_approve": auto_approve}
    assert fire_due(storage, handlers, due - timedelta(seconds=1)) == 0
    assert fire_due(storage, handlers, due) == 1
    assert fire_due(storage, handlers, due + timedelta(seconds=1)) == 0
    assert fired == [("m1", due)]


def test_a_moot_deadline_is_marked_and_writes_nothing(storage, store, clock):
    with storage.transaction() as uow:
        schedule(uow, "d1", "auto_approve", clock.now(), {})

    def already_approved(uow, payload, now):
        uow.append([NewEvent("ShouldNotStay", {}, stream="x-1")])
        raise Conflict("the client approved first")

    assert fire_due(storage, {"auto_approve": already_approved}) == 1
    assert store.read_all() == []
    assert storage.query("SELECT outcome FROM deadlines") == [("moot: the client approved first",)]


def test_a_deadline_that_loses_a_race_is_retried_not_taken_as_moot(storage, store, clock):
    from shared.errors import ConcurrencyError

    with storage.transaction() as uow:
        schedule(uow, "d1", "auto_approve", clock.now(), {})
    attempts = []

    def racing(uow, payload, now):
        attempts.append(1)
        if len(attempts) == 1:
            raise ConcurrencyError("the stream moved on")
        uow.append([NewEvent("MilestoneApproved", {}, stream="contract-1")])

    assert fire_due(storage, {"auto_approve": racing}) == 1
    assert len(attempts) == 2
    assert [e.type for e in store.read_all()] == ["MilestoneApproved"]
    assert storage.query("SELECT outcome FROM deadlines") == [("fired",)]


_texts = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=8,
)


# append_events assembles each canonical text from parts; verify rebuilds it with
# jsonb_build_array and Python with jsonb_text: all three must agree on any content
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=st.lists(
        st.tuples(_texts, _texts, st.dictionaries(_texts, json_values, max_size=3), st.booleans()),
        min_size=1,
        max_size=4,
    ),
    shared_meta=st.dictionaries(_texts, json_values, max_size=2),
)
def test_the_chain_written_by_append_is_the_chain_verify_and_python_compute(
    store, events, shared_meta
):
    position, previous = store.head()
    new = [
        NewEvent(type_, data, stream=f"s-{stream}", metadata={"own": stream} if own else None)
        for stream, type_, data, own in events
    ]
    recorded = store.append(new, metadata=shared_meta)
    for event in recorded:
        position += 1
        text = canonical_text(
            event.event_id,
            event.stream,
            event.type,
            event.schema_version,
            event.data,
            event.metadata,
            event.recorded_at,
        )
        previous = chain_hash(previous, position, event.version, digest_of_text(text))
        assert (event.position, event.hash) == (position, previous)
    assert store.read_all(recorded[0].position - 1, len(recorded)) == recorded
    report = store.verify()
    assert report.ok, report.problem
    assert (report.head_position, report.head_hash) == (position, previous)


def test_live_projections_see_the_aggregates_the_save_appends(dsn, clock):
    class Counter(Aggregate):
        stream_prefix = "counter"

        def __init__(self, id: str):
            super().__init__(id)
            self.total = 0

        def add(self, n: int) -> None:
            self.record("Added", n=n)

        def on_Added(self, data: dict) -> None:
            self.total += data["n"]

    class Seen(Projection):
        name = "seen"
        calls: list[tuple] = []

        def apply(self, cur, event):
            self.calls.append(("apply", event.stream, event.version))

        def apply_live(self, cur, event, saved):
            state = saved.get(event.stream)
            self.calls.append(
                ("live", event.stream, event.version, state and (state.version, state.total))
            )

    store = PostgresEventStore.connect(dsn, clock=clock, projections=[Seen()])
    try:
        with store.transaction() as uow:
            counter = uow.load(Counter, "c1")
            counter.add(2)
            counter.add(3)
            uow.save(counter)
            uow.append([NewEvent(type="Noted", data={}, stream="other-1")])
    finally:
        store.close()
    # both events of the save see the counter as it stands after the last one; an append
    # of events without an aggregate sees none
    assert Seen.calls == [
        ("live", "counter-c1", 1, (2, 5)),
        ("live", "counter-c1", 2, (2, 5)),
        ("live", "other-1", 1, None),
    ]
