"""replay rebuilds read models in a scratch schema and reports exactly the rows that differ."""

from __future__ import annotations

import psycopg
import pytest

from bench.audit import LEDGER_SQL, LedgerProjection, SetBasedLedgerProjection, contract_story
from shared.audit.replay import replay_service
from shared.domain import NewEvent
from shared.eventstore import PostgresEventStore, Projection

READ_MODELS = """
CREATE TABLE audit_notes (
    note_id  text    PRIMARY KEY,
    body     text    NOT NULL,
    edits    integer NOT NULL
);
CREATE TABLE audit_totals (
    account  text   NOT NULL,
    currency text   NOT NULL,
    balance  bigint NOT NULL,
    PRIMARY KEY (account, currency)
);
CREATE INDEX audit_totals_balance ON audit_totals (balance);
CREATE TABLE audit_feed (
    id       bigserial PRIMARY KEY,
    note_id  text      NOT NULL,
    what     text      NOT NULL
);
"""


class Notes(Projection):
    name = "notes"
    tables = ("audit_notes", "audit_feed")

    def on_NoteWritten(self, cur, event):
        cur.execute(
            "INSERT INTO audit_notes (note_id, body, edits) VALUES (%s, %s, 0)",
            (event.data["note_id"], event.data["body"]),
        )
        cur.execute(
            "INSERT INTO audit_feed (note_id, what) VALUES (%s, 'written')",
            (event.data["note_id"],),
        )

    def on_NoteEdited(self, cur, event):
        cur.execute(
            "UPDATE audit_notes SET body = %s, edits = edits + 1 WHERE note_id = %s",
            (event.data["body"], event.data["note_id"]),
        )
        cur.execute(
            "INSERT INTO audit_feed (note_id, what) VALUES (%s, 'edited')",
            (event.data["note_id"],),
        )


class Totals(Projection):
    name = "totals"
    tables = ("audit_totals",)

    def on_Paid(self, cur, event):
        cur.execute(
            "INSERT INTO audit_totals (account, currency, balance) VALUES (%s, %s, %s)"
            " ON CONFLICT (account, currency) DO UPDATE"
            " SET balance = audit_totals.balance + excluded.balance",
            (event.data["account"], event.data["currency"], event.data["amount"]),
        )


PROJECTIONS = [Notes(), Totals()]


@pytest.fixture
def live(dsn, clock):
    """A log written with the projections kept in the same transactions."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(READ_MODELS)
    store = PostgresEventStore.connect(dsn, clock=clock, max_size=2, projections=PROJECTIONS)
    try:
        for n in range(1, 6):
            store.append(
                [
                    NewEvent(
                        "NoteWritten",
                        {"note_id": f"n{n}", "body": f"v1 of {n}"},
                        stream=f"note-n{n}",
                    )
                ]
            )
            clock.advance(seconds=1)
        for n in (2, 4, 2):
            store.append(
                [
                    NewEvent(
                        "NoteEdited",
                        {"note_id": f"n{n}", "body": f"edit of {n}"},
                        stream=f"note-n{n}",
                    )
                ]
            )
        for account, amount in [("alice", 500), ("bob", 300), ("alice", -200)]:
            store.append(
                [
                    NewEvent(
                        "Paid",
                        {"account": account, "amount": amount, "currency": "USD"},
                        stream=f"pay-{account}",
                    )
                ]
            )
    finally:
        store.close()
    return dsn


def replay(dsn, **kwargs):
    return replay_service(dsn, "notes", PROJECTIONS, **kwargs)


def rows(dsn, sql):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def test_a_faithful_read_model_replays_identical(live):
    report = replay(live)
    assert report.identical, [d.describe() for d in report.diffs]
    assert report.events == 11
    assert report.rows == {"audit_notes": 5, "audit_feed": 8, "audit_totals": 2}


def test_the_scratch_schema_is_dropped(live):
    replay(live)
    assert rows(live, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'replay_%'") == []


def test_a_corrupted_row_is_reported_exactly(live):
    with psycopg.connect(live, autocommit=True) as conn:
        conn.execute("UPDATE audit_notes SET edits = 9 WHERE note_id = 'n2'")
    report = replay(live)
    assert len(report.diffs) == 1
    diff = report.diffs[0]
    assert (diff.table, diff.kind, diff.key) == ("audit_notes", "changed", {"note_id": "n2"})
    assert diff.changed_columns == ["edits"]
    assert (diff.live["edits"], diff.rebuilt["edits"]) == (9, 2)
    assert "audit_notes (note_id='n2') changed: edits: live 9, rebuilt 2" == diff.describe()


def test_missing_and_extra_rows_are_reported_with_their_composite_keys(live):
    with psycopg.connect(live, autocommit=True) as conn:
        conn.execute("DELETE FROM audit_totals WHERE account = 'bob'")
        conn.execute("INSERT INTO audit_totals VALUES ('carol', 'EUR', 1)")
    report = replay(live)
    assert [(d.table, d.kind, d.key) for d in report.diffs] == [
        ("audit_totals", "missing", {"account": "bob", "currency": "USD"}),
        ("audit_totals", "extra", {"account": "carol", "currency": "EUR"}),
    ]


def test_replace_puts_the_rebuilt_rows_back(live):
    with psycopg.connect(live, autocommit=True) as conn:
        conn.execute("UPDATE audit_totals SET balance = 0 WHERE account = 'alice'")
        conn.execute("DELETE FROM audit_feed WHERE id = 3")
    report = replay(live, replace=True)
    assert report.replaced and len(report.diffs) == 2
    assert replay(live).identical
    assert rows(live, "SELECT balance FROM audit_totals WHERE account = 'alice'") == [(300,)]
    # the live sequence continues after the rebuilt rows
    with psycopg.connect(live, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_feed (note_id, what) VALUES ('n9', 'x')")
    assert rows(live, "SELECT max(id) FROM audit_feed") == [(9,)]


def test_a_batch_path_rebuilds_what_the_per_event_path_wrote(dsn, clock):
    # the benchmark's ledger: live rows from apply() per append, rebuilt with apply_batch()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(LEDGER_SQL)
    store = PostgresEventStore.connect(dsn, clock=clock, projections=[LedgerProjection()])
    try:
        for n in range(30):
            store.append(contract_story(n))
            clock.advance(seconds=1)
    finally:
        store.close()
    report = replay_service(dsn, "escrow", [LedgerProjection()])
    assert report.identical, [d.describe() for d in report.diffs[:5]]
    assert report.rows["ledger_entries"] == 30 * 24
    by_sql = replay_service(dsn, "escrow", [SetBasedLedgerProjection()])
    assert by_sql.identical, [d.describe() for d in by_sql.diffs[:5]]
    assert by_sql.rows == report.rows
    # every event's legs sum to zero, and so does the whole ledger
    assert rows(
        dsn,
        "SELECT count(*) FROM (SELECT position FROM ledger_entries GROUP BY position HAVING sum(amount) <> 0) s",
    ) == [(0,)]
    assert rows(dsn, "SELECT sum(balance) FROM ledger_balances") == [(0,)]


def test_a_service_without_read_models_replays_identical(dsn, store):
    store.append([NewEvent("Noted", {"n": 1}, stream="s-1")])
    report = replay_service(dsn, "nothing", [])
    assert report.identical and report.events == 1 and report.rows == {}
