"""Replay: escrow's read models dropped and rebuilt from the log equal the live ones,
byte for byte."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from services.escrow import read_models
from services.escrow.read_models import PROJECTIONS
from shared.eventstore import PostgresEventStore
from tests.escrow.driver import fixed_offer, hourly_offer, usd

CLIENT, FREELANCER = "client-1", "free-1"
TABLES = {
    "escrow_contracts": "contract_id",
    "escrow_wallets": "wallet_id",
    "ledger_entries": "position, leg",
    "ledger_balances": "account, currency",
    "escrow_totals": "contract_id, kind, target_id",
}


def snapshot(dsn: str) -> dict[str, list[str]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            table: [
                row[0]
                for row in conn.execute(
                    f"SELECT row_to_json(t)::text FROM {table} t ORDER BY {key}"
                )
            ]
            for table, key in TABLES.items()
        }


def rebuild(dsn: str) -> None:
    """Truncate every escrow read model and replay the whole log through the projections."""
    store = PostgresEventStore.connect(dsn)
    try:
        with psycopg.connect(dsn) as conn, conn.transaction():
            cur = conn.cursor()
            cur.execute("TRUNCATE " + ", ".join(t for p in PROJECTIONS for t in p.tables))
            for event in store.iter_all():
                for projection in PROJECTIONS:
                    projection.apply(cur, event)
    finally:
        store.close()


def test_rebuilding_the_read_models_from_the_log_gives_the_same_rows(escrow):
    fixed = escrow.open_contract(fixed_offer(amounts=(10_000, 20_000)))
    hourly = escrow.open_contract(hourly_offer())
    first, second = (
        m["milestone_id"]
        for m in escrow.client(CLIENT, "get_contract", contract_id=fixed)["milestones"]
    )
    escrow.fund_wallet(CLIENT, 100_000)
    for milestone_id in (first, second):
        escrow.client(CLIENT, "fund_milestone", contract_id=fixed, milestone_id=milestone_id)
    escrow.freelancer(FREELANCER, "submit_work", contract_id=fixed, milestone_id=first)
    escrow.client(
        CLIENT, "approve_milestone", contract_id=fixed, milestone_id=first, amount=usd(7_000)
    )
    escrow.client(CLIENT, "pay_bonus", contract_id=fixed, amount=usd(1_500), reason="thanks")
    opened = escrow.client(
        CLIENT,
        "open_dispute",
        contract_id=fixed,
        target_kind="milestone",
        target_id=second,
        reason="late",
    )
    escrow.operator(
        "resolve_dispute",
        contract_id=fixed,
        dispute_id=opened["dispute_id"],
        refund=usd(5_000),
        release=usd(15_000),
    )
    escrow.advance(hours=2)
    now = escrow.clock.now()
    escrow.freelancer(
        FREELANCER,
        "log_time",
        contract_id=hourly,
        start=(now - timedelta(hours=1)).replace(second=0, microsecond=0).isoformat(),
        end=now.replace(second=0, microsecond=0).isoformat(),
    )
    escrow.advance(days=30)
    escrow.fire_deadlines()
    escrow.freelancer(FREELANCER, "withdraw", amount=usd(1_000))
    escrow.client(CLIENT, "end_contract", contract_id=fixed, reason="done")
    escrow.check()

    live = snapshot(escrow.dsn)
    assert all(live.values())
    rebuild(escrow.dsn)
    assert snapshot(escrow.dsn) == live
    escrow.check()


def test_the_live_rows_come_from_the_saved_aggregates_not_a_second_fold(escrow, monkeypatch):
    folds = []
    real_fold = read_models._fold
    monkeypatch.setattr(
        read_models, "_fold", lambda *args: folds.append(args[2].stream) or real_fold(*args)
    )
    fixed = escrow.open_contract(fixed_offer(amounts=(10_000,)))
    (milestone,) = escrow.client(CLIENT, "get_contract", contract_id=fixed)["milestones"]
    escrow.fund_wallet(CLIENT, 50_000)
    escrow.client(
        CLIENT, "fund_milestone", contract_id=fixed, milestone_id=milestone["milestone_id"]
    )
    assert folds == []
    assert escrow.client(CLIENT, "wallet")["balance"]["amount"] == 40_000  # 10,000 in escrow
    live = snapshot(escrow.dsn)
    rebuild(escrow.dsn)  # the replay path folds every contract and wallet event
    assert folds
    assert snapshot(escrow.dsn) == live
