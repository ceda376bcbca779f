"""The event store against the ``eventsourcing`` library's PostgreSQL recorder, same run.

Cases (events per second, higher is better):
  append_1    one event per transaction, many transactions in sequence
  append_10   ten events of one new stream per transaction
  append_100  a hundred events of one new stream per transaction
  read_log    the whole log scanned in position order, pages of 1000

Each side has its own fresh database on the same server, one connection, no concurrency,
``synchronous_commit = on``. The work of a case is split into rounds that alternate which
side goes first, so that noise from other users of the machine falls on both. Both sides
start from a Python dict of event data: ours hands it to ``PostgresEventStore.append``
(which also computes the hash chain in the database); the peer's JSON encoding is timed
too, and its recorder is driven directly (``PostgresApplicationRecorder.insert_events`` and
``select_notifications``), below its mapper and application layers.

Cases that have no peer are functions in ``STANDALONE_CASES``: each takes the context and
returns ``{"case": name, "ours_events_per_s": x}``, appended after the compared cases.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from rich.console import Console
from rich.table import Table

from bench.common import Context, summarize, throwaway_database
from shared.domain import NewEvent
from shared.eventstore import NO_STREAM, PostgresEventStore

NAME = "eventstore"

PAGE = 1000
DURABLE = {"synchronous_commit": "on"}

# case -> (what is compared, threshold): "ratio" is ours / peer, "events_per_s" is ours alone.
TARGETS: dict[str, tuple[str, float]] = {
    "append_1": ("ratio", 1.5),
    "append_100": ("ratio", 2.0),
}

# Cases measured without a peer, run after the compared ones (see the module docstring).
STANDALONE_CASES: list[Callable[[Context], dict[str, Any]]] = []


@dataclass(frozen=True)
class AppendCase:
    name: str
    per_txn: int  # events per transaction
    stream_length: int  # events per stream before a new stream is started
    full_txns: int
    quick_txns: int


APPEND_CASES = [
    # One command on an aggregate: streams of ten events, each append checks the version.
    AppendCase("append_1", 1, 10, full_txns=5000, quick_txns=60),
    AppendCase("append_10", 10, 10, full_txns=3000, quick_txns=20),
    AppendCase("append_100", 100, 100, full_txns=600, quick_txns=6),
]
WARMUP_TXNS = 20
FULL_ROUNDS, QUICK_ROUNDS = 4, 2
FULL_READ_PASSES, QUICK_READ_PASSES = 2, 1

# -- the events --------------------------------------------------------------------------

_SKILLS = ["python", "postgresql", "event-sourcing", "rabbitmq", "nameko", "typescript"]


def event_data(i: int) -> dict[str, Any]:
    """A job-posted event's data: about 250 bytes of JSON."""
    return {
        "job_id": str(uuid.uuid4()),
        "client_id": "4f1c2a9e-8b7d-4c3e-9a61-0d5e7b2f3c18",
        "title": f"Build an event-sourced billing service, part {i}",
        "budget": {"amount": 250000 + i % 1000, "currency": "USD"},
        "skills": _SKILLS[: 3 + i % 4],
        "duration": "1-3 months",
        "published_at": "2025-06-02T09:30:00.000000Z",
    }


METADATA = {
    "actor": "4f1c2a9e-8b7d-4c3e-9a61-0d5e7b2f3c18",
    "correlation_id": "c0ffee00-1234-4abc-8def-0123456789ab",
}
EVENT_TYPE = "JobPosted"
PEER_TOPIC = "services.jobs.domain:Job.Posted"


@dataclass
class Batch:
    """One transaction's worth of events, for both sides."""

    stream: str
    stream_id: uuid.UUID
    first_version: int  # version of the first event; the stream is at first_version - 1
    data: list[dict[str, Any]]


def batches(case: AppendCase, count: int) -> Iterator[Batch]:
    """``count`` transactions of ``case.per_txn`` events, streams of ``case.stream_length``."""
    stream_id = uuid.uuid4()
    version = 0
    for n in range(count):
        if version + case.per_txn > case.stream_length:
            stream_id, version = uuid.uuid4(), 0
        yield Batch(
            f"job-{stream_id}",
            stream_id,
            version + 1,
            [event_data(n * case.per_txn + k) for k in range(case.per_txn)],
        )
        version += case.per_txn


# -- the two sides -----------------------------------------------------------------------


class Ours:
    label = "ours"

    def __init__(self, dsn: str):
        self.store = PostgresEventStore.connect(dsn, min_size=1, max_size=1)

    def setting(self, name: str) -> str:
        with self.store.pool.connection() as conn:
            return conn.execute(f"SHOW {name}").fetchone()[0]

    def append(self, batch: Batch) -> None:
        events = [NewEvent(EVENT_TYPE, data, batch.stream) for data in batch.data]
        expected = batch.first_version - 1
        self.store.append(events, {batch.stream: expected or NO_STREAM}, METADATA)

    def read_all(self) -> int:
        count = 0
        for _ in self.store.iter_all(0, page=PAGE):
            count += 1
        return count

    def close(self) -> None:
        self.store.close()


class Peer:
    label = "peer"

    def __init__(self, dsn: str):
        info = psycopg.conninfo.conninfo_to_dict(dsn)
        self.datastore = PostgresDatastore(
            dbname=info["dbname"],
            host=info.get("host", "127.0.0.1"),
            port=info.get("port", 5432),
            user=info.get("user", ""),
            password=info.get("password", ""),
            pool_size=1,
        )
        self.recorder = PostgresApplicationRecorder(self.datastore)
        self.recorder.create_table()

    def setting(self, name: str) -> str:
        with self.datastore.get_connection() as conn:
            return next(iter(conn.execute(f"SHOW {name}").fetchone().values()))

    def append(self, batch: Batch) -> None:
        # The peer stores one blob per event; metadata travels inside it.
        self.recorder.insert_events(
            [
                StoredEvent(
                    batch.stream_id,
                    batch.first_version + k,
                    PEER_TOPIC,
                    json.dumps({"data": data, "metadata": METADATA}).encode(),
                )
                for k, data in enumerate(batch.data)
            ]
        )

    def read_all(self) -> int:
        count, start, inclusive = 0, None, True
        while True:
            page = self.recorder.select_notifications(start, PAGE, inclusive_of_start=inclusive)
            count += len(page)
            if len(page) < PAGE:
                return count
            start, inclusive = page[-1].id, False

    def close(self) -> None:
        self.datastore.close()


@contextmanager
def both_sides(ctx: Context) -> Iterator[tuple[Ours, Peer]]:
    with (
        throwaway_database("es_ours", server_url=ctx.pg_url, settings=DURABLE) as ours_dsn,
        throwaway_database(
            "es_peer", server_url=ctx.pg_url, service=None, settings=DURABLE
        ) as peer_dsn,
    ):
        ours, peer = Ours(ours_dsn), Peer(peer_dsn)
        try:
            for side in (ours, peer):
                if side.setting("synchronous_commit") != "on":
                    raise RuntimeError(f"{side.label}: synchronous_commit is not on")
            yield ours, peer
        finally:
            ours.close()
            peer.close()


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Tally:
    events: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.latencies: list[float] = []

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _append_round(side: Ours | Peer, work: list[Batch], tally: Tally) -> None:
    clock = time.perf_counter
    for batch in work:
        started = clock()
        side.append(batch)
        elapsed = clock() - started
        tally.latencies.append(elapsed)
        tally.seconds += elapsed
        tally.events += len(batch.data)


def measure_append(ctx: Context, case: AppendCase, ours: Ours, peer: Peer) -> tuple[Tally, Tally]:
    count = ctx.size(case.full_txns, case.quick_txns)
    rounds = ctx.size(FULL_ROUNDS, QUICK_ROUNDS)
    # Warm up both (prepared statements, caches) outside the timing.
    for side in (ours, peer):
        for batch in batches(case, WARMUP_TXNS):
            side.append(batch)
    tallies = {"ours": Tally(), "peer": Tally()}
    for r in range(rounds):
        order = (ours, peer) if r % 2 == 0 else (peer, ours)
        for side in order:
            # Event data is made outside the timing; each side gets streams of its own.
            work = list(batches(case, count // rounds))
            _append_round(side, work, tallies[side.label])
    return tallies["ours"], tallies["peer"]


def measure_read(ctx: Context, ours: Ours, peer: Peer) -> tuple[Tally, Tally]:
    passes = ctx.size(FULL_READ_PASSES, QUICK_READ_PASSES)
    tallies = {"ours": Tally(), "peer": Tally()}
    for side in (ours, peer):
        side.read_all()  # warm the buffers and the prepared statements
    for r in range(passes):
        order = (ours, peer) if r % 2 == 0 else (peer, ours)
        for side in order:
            started = time.perf_counter()
            n = side.read_all()
            tallies[side.label].seconds += time.perf_counter() - started
            tallies[side.label].events += n
    if tallies["ours"].events != tallies["peer"].events:
        raise RuntimeError(
            f"the logs differ in length: ours {tallies['ours'].events}, "
            f"peer {tallies['peer'].events}"
        )
    return tallies["ours"], tallies["peer"]


def compared_case(name: str, ours: Tally, peer: Tally) -> dict[str, Any]:
    return {
        "case": name,
        "ours_events_per_s": round(ours.rate, 1),
        "peer_events_per_s": round(peer.rate, 1),
        "ratio": round(ours.rate / peer.rate, 3) if peer.rate else None,
    }


def _latency_table(rows: list[tuple[str, str, Tally]]) -> Table:
    table = Table(title="append latency per transaction (ms)", title_justify="left")
    for column in ("case", "side", "txns", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="left" if column in ("case", "side") else "right")
    for case, label, tally in rows:
        s = summarize([x * 1000 for x in tally.latencies])
        table.add_row(
            case,
            label,
            f"{s['n']:,}",
            f"{s['p50']:.2f}",
            f"{s['p95']:.2f}",
            f"{s['p99']:.2f}",
            f"{s['max']:.2f}",
        )
    return table


def compare_with_peer(ctx: Context, console: Console | None = None) -> list[dict[str, Any]]:
    """The append and read cases, ours and the peer's, in one pass over two databases."""
    cases: list[dict[str, Any]] = []
    latencies: list[tuple[str, str, Tally]] = []
    with both_sides(ctx) as (ours, peer):
        for case in APPEND_CASES:
            ours_tally, peer_tally = measure_append(ctx, case, ours, peer)
            cases.append(compared_case(case.name, ours_tally, peer_tally))
            latencies += [(case.name, "ours", ours_tally), (case.name, "peer", peer_tally)]
        ours_tally, peer_tally = measure_read(ctx, ours, peer)
        cases.append(compared_case("read_log", ours_tally, peer_tally))
    if console is not None:
        console.print(_latency_table(latencies))
    return cases


def run(ctx: Context) -> dict[str, Any]:
    console = Console()
    cases = compare_with_peer(ctx, console)
    for standalone in STANDALONE_CASES:
        cases.append(standalone(ctx))
    return {"machine": ctx.machine, "cases": cases}


def target_verdicts(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(case, what was required, met) for every case that has a target."""
    verdicts = []
    by_name = {case["case"]: case for case in result["cases"]}
    for name, (measure, threshold) in TARGETS.items():
        case = by_name.get(name)
        if case is None:
            continue
        if measure == "ratio":
            value = case.get("ratio") or 0.0
            wanted = f">= {threshold:g}x peer (got {value:.2f}x)"
        else:
            value = case.get("ours_events_per_s") or 0.0
            wanted = f">= {threshold:,.0f} events/s (got {value:,.0f})"
        verdicts.append((name, wanted, value >= threshold))
    return verdicts


def summary(result: dict[str, Any]) -> list[str]:
    return [
        f"target {name}: {wanted}: " + ("[green]met[/green]" if met else "[red]MISSED[/red]")
        for name, wanted, met in target_verdicts(result)
    ]
