"""``verify``: everything an auditor checks on one service's log, in one snapshot.

- the hash chain, recomputed from each event's content (the canonical text is built by the
  query itself, not by a function stored in the database being checked); at the first
  break the rows around it are examined to say *what* happened: a changed event, a missing
  position, a swapped pair, an inserted event, a deletion hidden by renumbering;
- stream versions run 1, 2, 3 ... without gaps;
- the append-only guards are in place (triggers enabled, no UPDATE/DELETE/TRUNCATE for PUBLIC);
- no relay claims to have published beyond the log's head;
- every checkpoint's signature holds and the log still passes through its signed hash,
  so the log has only grown since (a shorter log was truncated, another hash was rewritten).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg import sql

from shared.audit.checkpoints import Checkpoint, signature_ok, stored_checkpoints
from shared.eventstore.hashing import CANONICAL_SQL, GENESIS_HASH, chain_hash

# Each row: position, version, stored hash, and the content digest computed by the server.
_CHAIN_SQL = (
    "SELECT position, version, hash, sha256(convert_to({canonical}, 'UTF8')) AS digest"
    " FROM events {where} ORDER BY position"
)
# The walk's rows: position, then everything hashed after the previous hash (position as
# int8, version as int4, content digest: the chain rule of hashing.py), then the stored hash.
_WALK_SQL = (
    "SELECT position, int8send(position) || int4send(version)"
    " || sha256(convert_to({canonical}, 'UTF8')), hash"
    " FROM events {where} ORDER BY position"
)
CHUNK = 25000  # positions per range fetched by one worker
WORKERS = 2


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a log: which check, where (if a position applies), what."""

    check: str
    problem: str
    position: int | None = None


@dataclass
class AuditReport:
    service: str
    events: int = 0
    head_position: int = 0
    head_hash: bytes = GENESIS_HASH
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_bad_position(self) -> int | None:
        positions = [f.position for f in self.findings if f.position is not None]
        return min(positions) if positions else None


@dataclass(frozen=True)
class _Row:
    position: int
    version: int
    hash: bytes
    digest: bytes


def _link(previous: bytes, position: int, row: _Row) -> bytes:
    return chain_hash(previous, position, row.version, row.digest)


def _rows_from(conn: psycopg.Connection, position: int, limit: int = 3) -> list[_Row]:
    sql = _CHAIN_SQL.format(canonical=CANONICAL_SQL, where="WHERE position >= %s") + " LIMIT %s"
    return [_Row(p, v, bytes(h), bytes(d)) for p, v, h, d in conn.execute(sql, (position, limit))]


def diagnose_break(conn: psycopg.Connection, expected: int, previous: bytes) -> Finding:
    """Say what happened where the chain stops matching at position ``expected``.

    ``previous`` is the last good hash. The next rows in position order are tried against
    the ways a log can be tampered with; when none fits, the break is reported as is.
    """
    rows = _rows_from(conn, expected)
    if not rows:
        return Finding("chain", f"the log ends before position {expected}", expected)
    r0 = rows[0]
    if r0.position != expected:
        missing = (
            f"position {expected} is missing"
            if r0.position == expected + 1
            else f"positions {expected} to {r0.position - 1} are missing"
        )
        return Finding("chain", f"{missing}: events were deleted", expected)
    r1 = rows[1] if len(rows) > 1 and rows[1].position == expected + 1 else None
    if r1 is not None and _link(previous, expected, r1) == r1.hash:
        # the event stored at expected + 1 belongs at expected
        if _link(r1.hash, expected + 1, r0) == r0.hash:
            return Finding(
                "chain",
                f"events at positions {expected} and {expected + 1} were swapped",
                expected,
            )
        return Finding(
            "chain",
            f"an event that is not in the chain was inserted at position {expected}"
            " (the events after it were renumbered)",
            expected,
        )
    if r1 is not None and _link(r0.hash, expected + 1, r1) == r1.hash:
        return Finding(
            "chain",
            f"the event at position {expected} was altered: its content no longer matches its hash",
            expected,
        )
    if r1 is not None and _link(r0.hash, expected + 2, r1) == r1.hash:
        return Finding(
            "chain",
            f"the event at position {expected} was deleted and the events after it renumbered",
            expected,
        )
    return Finding(
        "chain",
        f"hash mismatch at position {expected}: the event or its stored hash was altered",
        expected,
    )


@dataclass
class ChainWalk:
    checked: int = 0
    head_position: int = 0
    head_hash: bytes = GENESIS_HASH
    hashes_at: dict[int, bytes] = field(default_factory=dict)
    broken: Finding | None = None


class _ParallelChainReader:
    """The chain's rows in position order, computed by several server backends at once.

    The log is cut into position ranges; worker connections that share the caller's
    snapshot (``pg_export_snapshot``) fetch ranges ahead while the caller hashes, so the
    server builds canonical texts on every core. The caller still sees one ordered stream.
    """

    def __init__(self, dsn: str, snapshot: str, upper: int, workers: int = WORKERS):
        self.dsn, self.snapshot, self.upper = dsn, snapshot, upper
        self.workers = workers
        self._local = threading.local()
        self._conns: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = psycopg.connect(self.dsn)
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(self.snapshot)))
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _fetch(self, low: int | None, high: int | None) -> list[tuple]:
        bounds = [("position >= %s", low), ("position < %s", high)]
        bounds = [(cond, value) for cond, value in bounds if value is not None]
        where = ("WHERE " + " AND ".join(c for c, _ in bounds)) if bounds else ""
        params = [v for _, v in bounds]
        query = _WALK_SQL.format(canonical=CANONICAL_SQL, where=where)
        return self._conn().cursor(binary=True).execute(query, params).fetchall()

    def batches(self) -> Iterator[list[tuple]]:
        # ranges up to the head; the first and last are open-ended so that no row outside
        # 1..head escapes (not even one a tamperer slipped in below 1 past the CHECK)
        bounds = list(range(1, self.upper + 1, CHUNK)) or [1]
        ranges = [(low, low + CHUNK) for low in bounds[:-1]] + [(bounds[-1], None)]
        ranges[0] = (None, ranges[0][1])
        with ThreadPoolExecutor(self.workers) as pool:
            ahead = self.workers + 1
            futures = [pool.submit(self._fetch, *r) for r in ranges[:ahead]]
            try:
                for i in range(len(ranges)):
                    rows = futures[i].result()
                    futures[i] = None
                    if i + ahead < len(ranges):
                        futures.append(pool.submit(self._fetch, *ranges[i + ahead]))
                    yield rows
            finally:
                for future in futures:
                    if future is not None:
                        future.cancel()

    def close(self) -> None:
        for conn in self._conns:
            conn.close()


def walk_chain(
    conn: psycopg.Connection,
    dsn: str,
    watch: Iterable[int] = (),
    progress: Callable[[int], None] | None = None,
    workers: int = WORKERS,
) -> ChainWalk:
    """Recompute the chain over the whole log; stop at the first break and diagnose it.

    ``conn`` must be inside a REPEATABLE READ transaction: its snapshot is the one checked.
    ``watch`` lists positions whose recomputed hashes are kept (the checkpoints').
    """
    watched = set(watch)
    walk = ChainWalk()
    previous, expected = GENESIS_HASH, 1
    sha256 = hashlib.sha256
    snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
    upper = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]
    reader = _ParallelChainReader(dsn, snapshot, upper, workers)
    bad = False
    try:
        for rows in reader.batches():
            if not rows:
                continue
            count = len(rows)
            # positions are unique and sorted: first and last right means none is missing
            contiguous = rows[0][0] == expected and rows[-1][0] == expected + count - 1
            if contiguous and not any(expected <= w < expected + count for w in watched):
                for position, tail, stored in rows:
                    computed = sha256(previous + tail).digest()
                    if computed != stored:
                        expected, bad = position, True
                        break
                    previous = computed
                else:
                    expected += count
            else:
                for position, tail, stored in rows:
                    if position != expected:
                        bad = True
                        break
                    computed = sha256(previous + tail).digest()
                    if computed != stored:
                        bad = True
                        break
                    if position in watched:
                        walk.hashes_at[position] = computed
                    previous = computed
                    expected += 1
            if progress is not None:
                progress(count)
            if bad:
                break
    finally:
        reader.close()
    walk.checked = expected - 1
    walk.head_position = expected - 1
    walk.head_hash = previous
    if bad:
        walk.broken = diagnose_break(conn, expected, previous)
    return walk


def check_stream_versions(conn: psycopg.Connection) -> list[Finding]:
    """Streams whose versions skip a number, each named at the first event after the gap."""
    streams = [
        s
        for (s,) in conn.execute(
            "SELECT stream FROM events GROUP BY stream"
            " HAVING count(*) <> max(version) OR min(version) <> 1"
        )
    ]
    findings = []
    for stream in streams:
        row = conn.execute(
            "SELECT version, position, prev FROM ("
            " SELECT version, position, lag(version, 1, 0) OVER (ORDER BY version) AS prev"
            " FROM events WHERE stream = %s) s WHERE version <> prev + 1 ORDER BY version LIMIT 1",
            (stream,),
        ).fetchone()
        if row:
            version, position, prev = row
            findings.append(
                Finding(
                    "versions",
                    f"stream {stream} jumps from version {prev} to {version}",
                    position,
                )
            )
    return findings


GUARD_TRIGGERS = ("events_no_update_delete", "events_no_truncate")


def check_guards(conn: psycopg.Connection) -> list[Finding]:
    """The append-only triggers are present and enabled; PUBLIC may not change the log."""
    findings = []
    triggers = dict(
        conn.execute(
            "SELECT t.tgname, t.tgenabled FROM pg_trigger t"
            " JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE t.tgrelid = 'events'::regclass AND NOT t.tgisinternal"
            " AND p.proname = 'events_refuse_change'"
            " AND p.prosrc ILIKE '%%raise exception%%'"
        ).fetchall()
    )
    for name in GUARD_TRIGGERS:
        state = triggers.get(name)
        if state is None:
            findings.append(Finding("guards", f"trigger {name} is missing"))
        elif state == "D":
            findings.append(Finding("guards", f"trigger {name} is disabled"))
    granted = [
        p
        for (p,) in conn.execute(
            "SELECT a.privilege_type FROM pg_class c, aclexplode(c.relacl) a"
            " WHERE c.oid = 'events'::regclass AND a.grantee = 0"
            " AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')"
        )
    ]
    for privilege in sorted(granted):
        findings.append(Finding("guards", f"PUBLIC may {privilege} the log"))
    return findings


def check_relays(conn: psycopg.Connection, head_position: int) -> list[Finding]:
    """A relay that published beyond the head means events it sent are gone from the log."""
    return [
        Finding(
            "relay",
            f"relay {relay} published up to position {position}, beyond the log's head {head_position}",
            head_position + 1,
        )
        for relay, position in conn.execute(
            "SELECT relay, position FROM relay_position WHERE position > %s ORDER BY relay",
            (head_position,),
        )
    ]


def check_checkpoints(
    checkpoints: Sequence[Checkpoint],
    walk: ChainWalk,
    keys: Sequence[Ed25519PublicKey] | None,
) -> list[Finding]:
    """Each checkpoint is genuine and the log still passes through it."""
    findings = []
    for cp in checkpoints:
        when = cp.taken_at.isoformat()
        if keys is not None and not signature_ok(cp, keys):
            findings.append(
                Finding(
                    "checkpoint",
                    f"checkpoint of {when} (position {cp.position}) is not signed by a trusted key",
                )
            )
            continue
        if cp.position == 0:
            continue
        if walk.broken is None and cp.position > walk.head_position:
            findings.append(
                Finding(
                    "checkpoint",
                    f"the log ends at position {walk.head_position} but the checkpoint of {when}"
                    f" signed position {cp.position}: the log was truncated",
                    walk.head_position + 1,
                )
            )
        elif cp.position in walk.hashes_at and walk.hashes_at[cp.position] != cp.hash:
            findings.append(
                Finding(
                    "checkpoint",
                    f"the chain at position {cp.position} differs from the checkpoint of {when}:"
                    " the log was rewritten at or before it",
                    cp.position,
                )
            )
    return findings


def _has_table(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def verify_service(
    dsn: str,
    service: str,
    *,
    checkpoints: Sequence[Checkpoint] = (),
    keys: Sequence[Ed25519PublicKey] | None = None,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Run every check on the log of ``service`` at ``dsn``, in one consistent snapshot.

    Checkpoints stored in the database are used along with ``checkpoints`` (the auditor's
    own copies). With ``keys``, a checkpoint must carry a valid signature by one of them.
    """
    report = AuditReport(service)
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        every = list(checkpoints)
        if _has_table(conn, "audit_checkpoints"):
            every += stored_checkpoints(conn, service)
        every = [cp for cp in every if cp.service == service]
        walk = walk_chain(conn, dsn, watch=[cp.position for cp in every], progress=progress)
        report.events = walk.checked
        report.head_position = walk.head_position
        report.head_hash = walk.head_hash
        if walk.broken is not None:
            report.findings.append(walk.broken)
        report.findings += check_stream_versions(conn)
        report.findings += check_guards(conn)
        if _has_table(conn, "relay_position"):
            head = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]
            report.findings += check_relays(conn, head)
        report.findings += check_checkpoints(every, walk, keys)
        conn.rollback()
    report.findings.sort(key=lambda f: (f.position is None, f.position or 0, f.check))
    return report
