"""One contract, two stores: every test here runs against the in-memory store and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest

from shared.clock import ManualClock
from shared.domain import Aggregate, NewEvent
from shared.errors import ConcurrencyError
from shared.eventstore import ANY, NO_STREAM, PostgresEventStore, Upcasters
from shared.eventstore.memory import InMemoryEventStore


def ev(stream: str, type_: str = "Noted", **data) -> NewEvent:
    return NewEvent(type=type_, data=data or {"n": 1}, stream=stream)


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def make_store(request, databases, clock):
    """Builds a store of the parametrised kind; several may share one PostgreSQL database."""
    made = []
    dsn = {}

    def build(upcasters: Upcasters | None = None, max_size: int = 25):
        kwargs = {"clock": clock}
        if upcasters is not None:
            kwargs["upcasters"] = upcasters
        if request.param == "memory":
            store = made[0] if made and upcasters is None else InMemoryEventStore(**kwargs)
            if made and upcasters is not None:
                store._events = made[0]._events  # the same log, read by a newer reader
        else:
            dsn.setdefault("dsn", databases.create("core"))
            store = PostgresEventStore.connect(dsn["dsn"], max_size=max_size, **kwargs)
        made.append(store)
        return store

    build.kind = request.param
    build.dsn = dsn
    yield build
    for store in made:
        if isinstance(store, PostgresEventStore):
            store.close()


pytestmark = pytest.mark.parametrize("make_store", ["memory", "postgres"], indirect=True)


def test_append_and_read_a_stream(make_store):
    store = make_store()
    recorded = store.append(
        [ev("job-1", n=1), ev("job-1", n=2)], {"job-1": NO_STREAM}, {"actor": "u1"}
    )
    assert [(e.version, e.position) for e in recorded] == [(1, 1), (2, 2)]
    events = store.read_stream("job-1")
    assert [e.data["n"] for e in events] == [1, 2]
    assert events[0].metadata == {"actor": "u1"}
    assert store.stream_version("job-1") == 2
    assert store.read_stream("job-1", after_version=1)[0].data == {"n": 2}
    assert store.read_stream("nothing") == []


def test_metadata_carries_correlation_causation_actor_and_key(make_store):
    store = make_store()
    meta = {
        "correlation_id": "c-1",
        "causation_id": "e-0",
        "actor": "user-9",
        "idempotency_key": "k-1",
    }
    store.append([ev("s-1")], metadata=meta)
    assert store.read_stream("s-1")[0].metadata == meta


def test_recorded_time_comes_from_the_injected_clock(make_store, clock):
    store = make_store()
    clock.advance(days=3)
    store.append([ev("s-1")])
    assert store.read_stream("s-1")[0].recorded_at == clock.now()


def test_multi_stream_append_is_atomic(make_store):
    store = make_store()
    store.append([ev("a-1")], {"a-1": NO_STREAM})
    with pytest.raises(ConcurrencyError):
        store.append([ev("a-1"), ev("b-1")], {"a-1": 1, "b-1": 5})
    assert store.stream_version("a-1") == 1
    assert store.read_stream("b-1") == []
    recorded = store.append([ev("a-1"), ev("b-1")], {"a-1": 1, "b-1": NO_STREAM})
    assert [(e.stream, e.version) for e in recorded] == [("a-1", 2), ("b-1", 1)]


def test_streams_interleaved_in_one_append_each_number_on_from_their_own_version(make_store):
    store = make_store()
    store.append([ev("a-1"), ev("b-1"), ev("b-1")])
    recorded = store.append(
        [ev("b-1", n=3), ev("c-1"), ev("a-1"), ev("b-1", n=4), ev("c-1")],
        {"c-1": NO_STREAM, "guard-1": NO_STREAM},
    )
    assert [(e.stream, e.version, e.position) for e in recorded] == [
        ("b-1", 3, 4),
        ("c-1", 1, 5),
        ("a-1", 2, 6),
        ("b-1", 4, 7),
        ("c-1", 2, 8),
    ]
    assert [e.data["n"] for e in store.read_stream("b-1")] == [1, 1, 3, 4]
    # a stream that is only checked, and receives nothing, is still checked
    store.append([ev("guard-1")])
    with pytest.raises(ConcurrencyError):
        store.append([ev("a-1")], {"guard-1": NO_STREAM})
    assert store.stream_version("a-1") == 2
    assert store.verify().ok


def test_expected_version_mismatch_writes_nothing(make_store):
    store = make_store()
    store.append([ev("s-1")], {"s-1": NO_STREAM})
    for wrong in (NO_STREAM, 2, 7):
        with pytest.raises(ConcurrencyError):
            store.append([ev("s-1")], {"s-1": wrong})
    assert store.stream_version("s-1") == 1
    assert len(store.read_all()) == 1
    store.append([ev("s-1")], {"s-1": ANY})
    assert store.stream_version("s-1") == 2


class Counter(Aggregate):
    stream_prefix = "counter"

    def __init__(self, id):
        super().__init__(id)
        self.total = 0

    def add(self, n):
        self.record("Added", n=n)

    def on_Added(self, data):
        self.total += data["n"]


def test_aggregates_load_and_save_with_their_loaded_version(make_store):
    store = make_store()
    with store.transaction() as uow:
        c = uow.load(Counter, "c1")
        c.add(2)
        c.add(3)
        uow.save(c)
    first = store.load(Counter, "c1")
    second = store.load(Counter, "c1")
    assert (first.total, first.version) == (5, 2)
    first.add(1)
    second.add(10)
    with store.transaction() as uow:
        uow.save(first)
    with pytest.raises(ConcurrencyError):
        with store.transaction() as uow:
            uow.save(second)
    assert store.load(Counter, "c1").total == 6


@pytest.mark.parametrize("writers", [2, 5, 20])
def test_concurrent_writers_on_one_stream_exactly_one_wins_per_version(make_store, writers):
    store = make_store()
    store.append([ev("hot-1")], {"hot-1": NO_STREAM})
    barrier = threading.Barrier(writers)
    outcomes = []

    def write(i):
        barrier.wait()
        try:
            store.append([ev("hot-1", n=i)], {"hot-1": 1})
            outcomes.append(("won", i))
        except ConcurrencyError:
            outcomes.append(("lost", i))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [o for o, _ in outcomes].count("won") == 1
    assert store.stream_version("hot-1") == 2
    winner = next(i for o, i in outcomes if o == "won")
    assert store.read_stream("hot-1")[1].data == {"n": winner}


def test_reader_tailing_the_log_sees_every_event_once_in_order(make_store):
    store = make_store()
    writers, per_writer = 8, 25
    done = threading.Event()
    seen: list[int] = []
    ids: list[str] = []

    def tail():
        position = 0
        while True:
            finished = done.is_set()
            batch = store.read_all(position, limit=50)
            for e in batch:
                seen.append(e.position)
                ids.append(e.event_id)
            if batch:
                position = batch[-1].position
            elif finished:
                return
            else:
                time.sleep(0.001)  # let the writers run (green threads under eventlet)

    def write(w):
        for i in range(per_writer):
            stream = f"s-{w}-{i % 3}"
            store.append([ev(stream, n=i), ev(f"other-{w}", n=i)])

    reader = threading.Thread(target=tail)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    total = writers * per_writer * 2
    assert seen == list(range(1, total + 1))
    assert len(set(ids)) == total


def test_untouched_log_verifies_clean(make_store):
    store = make_store()
    for i in range(30):
        store.append([ev(f"s-{i % 4}", n=i, text='caf\u00e9 "quoted"\n')])
    report = store.verify()
    assert report.ok and report.checked == 30 and report.head_position == 30
    assert report.head_hash == store.head()[1]


def _tamper(make_store, store, position: int, new_data: dict) -> None:
    if make_store.kind == "memory":
        index = position - 1
        old = store._events[index]
        store._events[index] = type(old)(**{**old.__dict__, "data": new_data})
        return
    with psycopg.connect(make_store.dsn["dsn"], autocommit=True) as conn:
        # done as the database owner, with the append-only guards switched off for the session
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE events SET data = %s WHERE position = %s",
            (psycopg.types.json.Jsonb(new_data), position),
        )


@pytest.mark.parametrize("position", [1, 7, 20])
def test_a_changed_byte_makes_verify_name_that_position(make_store, position):
    store = make_store()
    for i in range(20):
        store.append([ev("s-1", n=i, note="abc")])
    _tamper(make_store, store, position, {"n": position - 1, "note": "abd"})
    report = store.verify()
    assert not report.ok
    assert report.first_bad_position == position
    assert report.checked == position - 1


def test_upcasting_a_v1_event_stored_before_the_v2_reader_existed(make_store):
    old_reader = make_store()
    old_reader.append([NewEvent("JobPosted", {"title": "Logo"}, stream="job-1", schema_version=1)])

    upcasters = Upcasters()

    @upcasters.register("JobPosted", 1)
    def v1_to_v2(data):
        return {**data, "visibility": "public"}

    @upcasters.register("JobPosted", 2)
    def v2_to_v3(data):
        return {**data, "title": data["title"].upper()}

    new_reader = make_store(upcasters=upcasters)
    (event,) = new_reader.read_stream("job-1")
    assert event.schema_version == 3
    assert event.data == {"title": "LOGO", "visibility": "public"}
    assert new_reader.read_all()[0].data == event.data
    # the stored row is untouched, so the chain still verifies
    assert new_reader.verify().ok


def test_iter_all_stops_at_a_moment_in_time(make_store, clock):
    store = make_store()
    store.append([ev("s-1", n=1)])
    cutoff = clock.now()
    clock.advance(timedelta(hours=1))
    store.append([ev("s-1", n=2)])
    assert [e.data["n"] for e in store.iter_all(until=cutoff)] == [1]
    assert [e.data["n"] for e in store.iter_all(page=1)] == [1, 2]


def test_load_many_reads_what_separate_loads_read(make_store):
    store = make_store()
    store.append([ev("counter-a", "Added", n=1), ev("counter-b", "Added", n=5), ev("other-x")])
    store.append([ev("counter-a", "Added", n=2)])
    with store.transaction() as uow:
        a, missing, b, a_again = uow.load_many(
            (Counter, "a"), (Counter, "none"), (Counter, "b"), (Counter, "a")
        )
        one_by_one = [uow.load(Counter, i) for i in ("a", "none", "b", "a")]
    assert [(t.id, t.total, t.version) for t in (a, missing, b, a_again)] == [
        (t.id, t.total, t.version) for t in one_by_one
    ]
    assert (a.total, a.version, missing.version, b.total) == (3, 2, 0, 5)
    assert a is not a_again  # each is its own aggregate to change


def test_a_reading_unit_of_work_sees_commits_and_refuses_to_append(make_store):
    store = make_store()
    store.append([ev("counter-r", "Added", n=4)])
    with store.reading() as uow:
        tally = uow.load(Counter, "r")
        assert (tally.total, tally.version) == (4, 1)
        tally.record("Added", n=1)
        with pytest.raises(TypeError):
            uow.save(tally)
    assert store.load(Counter, "r").total == 4
    assert [e.version for e in store.read_stream("counter-r")] == [1]
