"""as-of state of a contract at three moments matches what was live at those moments."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from shared.audit.asof import aggregate_as_of, stream_as_of, table_as_of
from shared.domain import Aggregate
from shared.eventstore import PostgresEventStore, Projection

CONTRACTS_SQL = """
CREATE TABLE audit_contracts (
    contract_id  text   PRIMARY KEY,
    status       text   NOT NULL,
    funded       bigint NOT NULL,
    released     bigint NOT NULL
);
"""


class Contract(Aggregate):
    stream_prefix = "contract"

    def __init__(self, id: str):
        super().__init__(id)
        self.status, self.funded, self.released = "none", 0, 0

    def start(self):
        self.record("ContractStarted", contract_id=self.id)

    def fund(self, amount: int):
        self.record("MilestoneFunded", contract_id=self.id, amount=amount)

    def release(self, amount: int):
        self.record("MilestoneReleased", contract_id=self.id, amount=amount)

    def end(self):
        self.record("ContractEnded", contract_id=self.id)

    def on_ContractStarted(self, data):
        self.status = "active"

    def on_MilestoneFunded(self, data):
        self.funded += data["amount"]

    def on_MilestoneReleased(self, data):
        self.released += data["amount"]

    def on_ContractEnded(self, data):
        self.status = "ended"


class ContractsView(Projection):
    name = "contracts"
    tables = ("audit_contracts",)

    def on_ContractStarted(self, cur, event):
        cur.execute(
            "INSERT INTO audit_contracts VALUES (%s, 'active', 0, 0)", (event.data["contract_id"],)
        )

    def on_MilestoneFunded(self, cur, event):
        cur.execute(
            "UPDATE audit_contracts SET funded = funded + %s WHERE contract_id = %s",
            (event.data["amount"], event.data["contract_id"]),
        )

    def on_MilestoneReleased(self, cur, event):
        cur.execute(
            "UPDATE audit_contracts SET released = released + %s WHERE contract_id = %s",
            (event.data["amount"], event.data["contract_id"]),
        )

    def on_ContractEnded(self, cur, event):
        cur.execute(
            "UPDATE audit_contracts SET status = 'ended' WHERE contract_id = %s",
            (event.data["contract_id"],),
        )


def live_row(dsn, contract_id):
    with psycopg.connect(dsn) as conn:
        return (
            conn.cursor(row_factory=dict_row)
            .execute("SELECT * FROM audit_contracts WHERE contract_id = %s", (contract_id,))
            .fetchall()
        )


@pytest.fixture
def story(dsn, clock):
    """A contract's story; after each of three steps, what the service showed then."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(CONTRACTS_SQL)
    store = PostgresEventStore.connect(dsn, clock=clock, max_size=2, projections=[ContractsView()])
    seen = []

    def step(*actions):
        with store.transaction({"actor": "client-1"}) as uow:
            contract = uow.load(Contract, "c1")
            other = uow.load(Contract, "c2")
            for action in actions:
                action(contract, other)
            uow.save(contract, other)
        seen.append((clock.now(), live_row(dsn, "c1")))
        clock.advance(hours=1)

    try:
        step(lambda c, o: c.start(), lambda c, o: o.start())
        step(lambda c, o: c.fund(50_000), lambda c, o: o.fund(7))
        step(lambda c, o: c.release(50_000), lambda c, o: c.end())
    finally:
        store.close()
    return seen


def test_the_contract_as_of_three_moments_matches_what_was_live(dsn, story):
    assert [rows[0]["status"] for _, rows in story] == ["active", "active", "ended"]
    for moment, rows in story:
        rebuilt = table_as_of(
            dsn, [ContractsView()], moment, "audit_contracts", {"contract_id": "c1"}
        )
        assert rebuilt == rows
        # halfway to the next step nothing has changed yet
        later = table_as_of(
            dsn,
            [ContractsView()],
            moment + timedelta(minutes=30),
            "audit_contracts",
            {"contract_id": "c1"},
        )
        assert later == rows


def test_before_the_story_there_is_no_contract(dsn, story):
    first = story[0][0]
    assert (
        table_as_of(dsn, [ContractsView()], first - timedelta(seconds=1), "audit_contracts") == []
    )


def test_the_aggregate_folded_as_of_each_moment(dsn, story):
    expected = [("active", 0, 0), ("active", 50_000, 0), ("ended", 50_000, 50_000)]
    for (moment, _), state in zip(story, expected, strict=True):
        contract = aggregate_as_of(dsn, Contract, "c1", moment)
        assert (contract.status, contract.funded, contract.released) == state
    assert [e.type for e in stream_as_of(dsn, "contract-c1", story[1][0])] == [
        "ContractStarted",
        "MilestoneFunded",
    ]


def test_a_table_no_projection_owns_is_refused(dsn, story):
    with pytest.raises(ValueError, match="no projection owns"):
        table_as_of(dsn, [ContractsView()], story[0][0], "ledger_entries")
