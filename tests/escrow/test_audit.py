"""The auditor's view of a running escrow: ``reconcile`` (clearing account against the
sandbox provider's own records) and the auditor-role RPC (``audit_verify``,
``audit_as_of``)."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from click.testing import CliRunner
from rich.console import Console

from shared.audit import cli
from shared.audit.reconcile import reconcile
from shared.errors import Forbidden, ValidationError
from tests.escrow.conftest import START
from tests.escrow.driver import AUDITOR, fixed_offer, usd

CLIENT, FREELANCER = "client-1", "free-1"
ONE_DAY = timedelta(days=1)
DAY1, DAY2 = START.date(), START.date() + ONE_DAY


@pytest.fixture
def money_moved(escrow):
    """Day 1: a 70.00 deposit confirmed, a 30.00 one failed. Day 2: a 25.00 deposit and a
    40.00 withdrawal confirmed, a 5.00 withdrawal still waiting for the provider."""
    escrow.fund_wallet(CLIENT, 7_000)
    failed = escrow.client(CLIENT, "deposit", amount=usd(3_000))
    escrow.operator(
        "confirm_provider_payment",
        operation="deposit",
        operation_id=failed["deposit_id"],
        status="failed",
        reason="card declined",
    )
    escrow.advance(days=1)
    escrow.fund_wallet(CLIENT, 2_500)
    paid = escrow.client(CLIENT, "withdraw", amount=usd(4_000), source="client_wallet")
    escrow.operator(
        "confirm_provider_payment", operation="withdrawal", operation_id=paid["withdrawal_id"]
    )
    escrow.client(CLIENT, "withdraw", amount=usd(500), source="client_wallet")
    escrow.check()
    return paid["withdrawal_id"]


def owner_sql(dsn: str, statement: str, params=None) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(statement, params)


def test_reconcile_matches_every_day_of_a_clean_history(escrow, money_moved):
    report = reconcile(escrow.dsn)
    assert report.ok and report.differences == []
    day1, day2 = report.days
    assert (day1.day, day1.currency, day1.operations) == (DAY1, "USD", 1)
    assert (day1.provider_deposits, day1.ledger_deposits) == (7_000, 7_000)
    assert (day1.provider_withdrawals, day1.ledger_withdrawals) == (0, 0)
    assert (day2.day, day2.operations) == (DAY2, 2)
    assert (day2.provider_deposits, day2.ledger_deposits) == (2_500, 2_500)
    assert (day2.provider_withdrawals, day2.ledger_withdrawals) == (4_000, 4_000)
    # the clearing account's balance is what the two days moved
    clearing = escrow.call(AUDITOR, "auditor", "ledger", account="provider_clearing:USD")
    assert clearing["balance"] == -(7_000 + 2_500) + 4_000
    only_day2 = reconcile(escrow.dsn, DAY2, DAY2)
    assert [d.day for d in only_day2.days] == [DAY2] and only_day2.ok
    assert reconcile(escrow.dsn, date(2025, 1, 1), date(2025, 1, 31)).days == []


def test_reconcile_names_the_day_and_operation_of_each_difference(escrow, money_moved):
    withdrawal_id = money_moved
    owner_sql(
        escrow.dsn,
        "UPDATE sandbox_provider_payments SET amount = 4100 WHERE operation_id = %s",
        (withdrawal_id,),
    )
    report = reconcile(escrow.dsn)
    assert [d.matches for d in report.days] == [True, False]
    (diff,) = report.differences
    assert (diff.day, diff.operation, diff.operation_id) == (DAY2, "withdrawal", withdrawal_id)
    assert diff.problem == "amount differs: provider 4100, ledger 4000"
    assert report.days[1].provider_withdrawals == 4_100

    # the provider never heard of day 1's deposit
    owner_sql(
        escrow.dsn,
        "DELETE FROM sandbox_provider_payments WHERE operation = 'deposit' AND amount = 7000",
    )
    report = reconcile(escrow.dsn)
    assert [d.matches for d in report.days] == [False, False]
    first = report.differences[0]
    assert (first.day, first.operation, first.provider) == (DAY1, "deposit", None)
    assert first.ledger is not None and first.ledger.amount == 7_000
    assert first.problem.endswith("the provider has no record of it")

    # a settlement the provider dates a day later: missing on each side, on its own day
    owner_sql(
        escrow.dsn,
        "UPDATE sandbox_provider_payments SET amount = 4000, settled_at = settled_at"
        " + interval '1 day' WHERE operation_id = %s",
        (withdrawal_id,),
    )
    report = reconcile(escrow.dsn, DAY2, DAY2 + ONE_DAY)
    problems = [(d.day, d.problem) for d in report.differences]
    assert problems == [
        (DAY2, f"the ledger posted 4000 that day; the provider settled it on {DAY2 + ONE_DAY}"),
        (DAY2 + ONE_DAY, "the provider settled 4000 that day; the ledger posted nothing"),
    ]


def test_reconcile_on_the_command_line_exits_non_zero_on_a_difference(
    escrow, money_moved, monkeypatch
):
    monkeypatch.setattr(cli, "console", Console(width=300))
    clean = CliRunner().invoke(
        cli.audit, ["reconcile", "--dsn", escrow.dsn], catch_exceptions=False
    )
    assert clean.exit_code == 0, clean.output
    assert f"{DAY1}" in clean.output and "matches (2 operations)" in clean.output
    owner_sql(
        escrow.dsn,
        "UPDATE sandbox_provider_payments SET status = 'failed' WHERE operation_id = %s",
        (money_moved,),
    )
    window = ["--from", DAY2.isoformat(), "--to", DAY2.isoformat()]
    broken = CliRunner().invoke(
        cli.audit, ["reconcile", "--dsn", escrow.dsn, *window], catch_exceptions=False
    )
    assert broken.exit_code == 1, broken.output
    assert f"{DAY1}" not in broken.output
    assert f"{DAY2} USD withdrawal {money_moved}" in broken.output
    assert "the provider's record says failed" in broken.output


def test_audit_verify_over_rpc_is_for_auditors_and_operators(escrow, money_moved):
    with pytest.raises(Forbidden):
        escrow.client(CLIENT, "audit_verify")
    clean = escrow.call(AUDITOR, "auditor", "audit_verify")
    assert clean["ok"] and clean["findings"] == []
    assert clean["events"] == escrow.log_length() == clean["head_position"]
    assert escrow.operator("audit_verify")["head_hash"] == clean["head_hash"]
    with psycopg.connect(escrow.dsn) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE events SET data = data || '{\"amount\": 1}' WHERE position = 3")
    broken = escrow.call(AUDITOR, "auditor", "audit_verify")
    assert not broken["ok"]
    assert broken["findings"][0]["position"] == 3


def test_audit_as_of_over_rpc_rebuilds_a_contract_at_a_past_time(escrow):
    escrow.fund_wallet(CLIENT, 20_000)
    contract_id = escrow.open_contract(fixed_offer(CLIENT, FREELANCER, amounts=(10_000,)))
    opened = escrow.client(CLIENT, "get_contract", contract_id=contract_id)
    opened_at = escrow.clock.now()
    (milestone,) = opened["milestones"]
    escrow.advance(hours=2)
    funded = escrow.client(
        CLIENT, "fund_milestone", contract_id=contract_id, milestone_id=milestone["milestone_id"]
    )["contract"]
    assert funded != opened

    def view_at(when, caller=(AUDITOR, "auditor")):
        answer = escrow.call(
            *caller,
            "audit_as_of",
            table="escrow_contracts",
            at=when.isoformat(),
            where={"contract_id": contract_id},
        )
        return [row["view"] for row in answer["rows"]]

    assert view_at(opened_at) == [opened]
    assert view_at(escrow.clock.now(), ("op-1", "operator")) == [funded]
    assert view_at(START - timedelta(days=1)) == []
    with pytest.raises(Forbidden):
        view_at(opened_at, (CLIENT, "client"))
    with pytest.raises(ValidationError):
        escrow.call(AUDITOR, "auditor", "audit_as_of", table="events", at=opened_at.isoformat())
    with pytest.raises(ValidationError):
        escrow.call(
            AUDITOR,
            "auditor",
            "audit_as_of",
            table="escrow_contracts",
            at=opened_at.isoformat(),
            where={"no_such_column": "x"},
        )
