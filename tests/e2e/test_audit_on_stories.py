"""The auditor's toolkit on the logs of a real fixed-price story, all six services running:
``replay`` of every service, ``as-of`` at three moments of the story, ``reconcile`` with the
sandbox provider's records, and the contract's ``timeline`` across the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
import pytest
from click.testing import CliRunner
from rich.console import Console

from shared.audit import cli
from shared.audit.asof import table_as_of
from shared.audit.reconcile import reconcile
from shared.audit.replay import replay_service
from shared.audit.services import service_models
from shared.audit.timeline import timeline
from shared.errors import NotFound
from tests.e2e.conftest import SERVICES, START, Marketplace, User, usd, wait_until
from tests.e2e.flows import hire, job_details

BID = 450_00
FEE = 45_00
DEPOSIT = 600_00
WITHDRAWAL = 300_00
PAYOUT_DAY = START + timedelta(days=5, hours=4)


@dataclass
class Story:
    """What the fixed-price story left behind, and what escrow said along the way."""

    client: User
    freelancer: User
    operator: User
    contract_id: str
    withdrawal_id: str
    # (manual clock time, escrow's get_contract answer at that time)
    seen: list[tuple[datetime, dict]] = field(default_factory=list)


def _move_clock(market: Marketplace, when: datetime, *users: User) -> None:
    market.clock.set(when)
    for user in users:
        user.login()  # access tokens live 15 minutes of the manual clock


def fixed_price_story(market: Marketplace) -> Story:
    """Deposit, hire, fund, submit, approve; after the security period a withdrawal paid
    out by the sandbox provider; the client ends the contract and both leave feedback."""
    client = market.register("client", name="Cleo Client")
    freelancer = market.register("freelancer", name="Fred Freelancer")
    operator = market.operator()
    everyone = (client, freelancer, operator)
    market.deposit(client, operator, DEPOSIT)
    contract_id = hire(
        market,
        client,
        freelancer,
        job=job_details(
            "Build a booking site for yoga studios", {"type": "fixed", "amount": usd(500_00)}
        ),
        bid=usd(BID),
        offer={
            "kind": "fixed",
            "title": "Booking site",
            "milestones": [{"title": "The whole site", "amount": usd(BID)}],
        },
        start=START,
    )
    story = Story(client, freelancer, operator, contract_id, "")

    def record() -> dict:
        with client.rpc() as rpc:
            contract = rpc.escrow.get_contract(contract_id=contract_id)
        story.seen.append((market.clock.now(), contract))
        return contract

    (milestone,) = record()["milestones"]  # moment 1: just opened, nothing funded
    target = {"contract_id": contract_id, "milestone_id": milestone["milestone_id"]}

    _move_clock(market, START + timedelta(hours=1), *everyone)
    with client.rpc() as rpc:
        rpc.escrow.fund_milestone(**target)
    record()  # moment 2: funded

    _move_clock(market, START + timedelta(hours=3), *everyone)
    with freelancer.rpc() as rpc:
        rpc.escrow.submit_work(message="On staging.", **target)
    with client.rpc() as rpc:
        rpc.escrow.approve_milestone(**target)
    record()  # moment 3: released to the freelancer

    _move_clock(market, PAYOUT_DAY, *everyone)
    assert market.fire_timers()["escrow"] >= 1  # the earnings become available
    with freelancer.rpc() as rpc:
        story.withdrawal_id = rpc.escrow.withdraw(amount=usd(WITHDRAWAL))["withdrawal_id"]
    with operator.rpc() as rpc:
        rpc.escrow.confirm_provider_payment(
            operation="withdrawal", operation_id=story.withdrawal_id
        )
    with client.rpc() as rpc:
        rpc.escrow.end_contract(contract_id=contract_id, reason="work completed")
        wait_until(lambda: _feedback_open(rpc, contract_id), "reputation opens feedback")
        rpc.reputation.leave_feedback(
            contract_id=contract_id,
            rating=5,
            criteria={
                name: 5
                for name in (
                    "skills",
                    "quality",
                    "availability",
                    "deadlines",
                    "communication",
                    "cooperation",
                )
            },
            comment="Excellent work.",
            private_feedback={"end_reason": "work_completed", "would_recommend": 10},
        )
    with freelancer.rpc() as rpc:
        rpc.reputation.leave_feedback(
            contract_id=contract_id,
            rating=4,
            criteria={
                "clarity": 4,
                "communication": 5,
                "payment_promptness": 5,
                "cooperation": 4,
            },
            comment="Clear brief.",
            private_feedback={"end_reason": "work_completed", "would_recommend": 9},
        )
    market.assert_healthy()
    return story


def _feedback_open(rpc, contract_id: str) -> bool:
    try:
        return rpc.reputation.get_feedback(contract_id=contract_id)["ended_at"] is not None
    except NotFound:
        return False


@pytest.fixture
def story(market) -> Story:
    return fixed_price_story(market)


def replay(market: Marketplace, service: str, **kwargs):
    models = service_models(service)
    return replay_service(
        market.dsns[service], service, models.projections, models.upcasters, **kwargs
    )


def test_audit_tools_on_the_logs_of_a_fixed_price_story(market, story, monkeypatch):
    monkeypatch.setattr(cli, "console", Console(width=300))

    # replay: every service's read models are exactly what its log rebuilds
    for service in SERVICES:
        report = replay(market, service)
        assert report.events > 0, service
        assert report.identical, (service, [d.describe() for d in report.diffs])
    escrow_report = replay(market, "escrow")
    assert escrow_report.rows["ledger_entries"] > 0 and escrow_report.rows["escrow_contracts"] == 1

    # ... and after one read-model row is altered behind the service's back, exactly that row
    with psycopg.connect(market.dsns["escrow"]) as conn:
        conn.execute(
            "UPDATE ledger_balances SET balance = balance + 1"
            " WHERE account = 'platform_fees' AND currency = 'USD'"
        )
    (diff,) = replay(market, "escrow").diffs
    assert (diff.table, diff.kind, diff.key) == (
        "ledger_balances",
        "changed",
        {"account": "platform_fees", "currency": "USD"},
    )
    assert diff.changed_columns == ["balance"]
    assert (diff.live["balance"], diff.rebuilt["balance"]) == (FEE + 1, FEE)
    assert replay(market, "escrow", replace=True).replaced
    assert replay(market, "escrow").identical
    with story.operator.rpc() as rpc:
        assert rpc.escrow.ledger(account="platform_fees", currency="USD")["balance"] == FEE

    # as-of: the contract at three moments is what escrow answered at those moments
    escrow = service_models("escrow")
    assert len(story.seen) == 3
    statuses = []
    for when, answered in story.seen:
        (row,) = table_as_of(
            market.dsns["escrow"],
            escrow.projections,
            when,
            "escrow_contracts",
            {"contract_id": story.contract_id},
            escrow.upcasters,
        )
        assert row["view"] == answered, when
        statuses.append(answered["milestones"][0]["status"])
    assert statuses == ["unfunded", "funded", "released"]
    # the same through the auditor-role RPC (an operator here) and the command line
    moment, answered = story.seen[1]
    with story.operator.rpc() as rpc:
        rows = rpc.escrow.audit_as_of(
            table="escrow_contracts",
            at=moment.isoformat(),
            where={"contract_id": story.contract_id},
        )["rows"]
        assert [r["view"] for r in rows] == [answered]
        assert rpc.escrow.audit_verify()["ok"]
    shown = CliRunner().invoke(
        cli.audit,
        [
            "as-of",
            "escrow",
            "escrow_contracts",
            "--at",
            moment.isoformat(),
            "--where",
            f"contract_id={story.contract_id}",
            "--dsn",
            market.dsns["escrow"],
        ],
        catch_exceptions=False,
    )
    assert shown.exit_code == 0 and '"status": "funded"' in shown.output

    # reconcile: the deposit's day and the payout's day match the provider's own records
    report = reconcile(market.dsns["escrow"], upcasters=escrow.upcasters)
    assert [(d.day, d.matches) for d in report.days] == [
        (START.date(), True),
        (PAYOUT_DAY.date(), True),
    ]
    assert (report.days[0].provider_deposits, report.days[0].ledger_deposits) == (DEPOSIT,) * 2
    assert (report.days[1].provider_withdrawals, report.days[1].ledger_withdrawals) == (
        WITHDRAWAL,
    ) * 2
    with psycopg.connect(market.dsns["escrow"]) as conn:
        conn.execute(
            "UPDATE sandbox_provider_payments SET amount = amount - 100 WHERE operation_id = %s",
            (story.withdrawal_id,),
        )
    report = reconcile(market.dsns["escrow"], upcasters=escrow.upcasters)
    assert [(d.day, d.matches) for d in report.days] == [
        (START.date(), True),
        (PAYOUT_DAY.date(), False),
    ]
    (difference,) = report.differences
    assert (difference.operation, difference.operation_id) == ("withdrawal", story.withdrawal_id)
    assert difference.problem == f"amount differs: provider {WITHDRAWAL - 100}, ledger {WITHDRAWAL}"

    # timeline: the contract across the services, in time order, with the money it moved
    entries = timeline(market.dsns, story.contract_id)
    assert {e.service for e in entries} >= {
        "escrow",
        "bidding",
        "jobs",
        "messaging",
        "reputation",
    }
    times = [e.recorded_at for e in entries]
    assert times == sorted(times)
    by_type = {e.type: e for e in entries}
    assert by_type["OfferAccepted"].service == "bidding"
    assert by_type["ContractOpened"].service == "escrow"
    assert by_type["ContractOpened"].recorded_at == START
    funded = by_type["MilestoneFunded"]
    assert funded.actor == story.client.user_id
    assert ("amount", BID, "USD") in funded.money
    assert set(funded.postings) == {
        (f"client_wallet:{story.client.user_id}", -BID, "USD"),
        (f"contract_escrow:{story.contract_id}", BID, "USD"),
    }
    released = by_type["MilestoneReleased"]
    assert {("gross", BID, "USD"), ("net", BID - FEE, "USD"), ("fee", FEE, "USD")} <= set(
        released.money
    )
    assert set(released.postings) == {
        (f"contract_escrow:{story.contract_id}", -BID, "USD"),
        (f"freelancer_pending:{story.freelancer.user_id}", BID - FEE, "USD"),
        ("platform_fees", FEE, "USD"),
    }
    assert released.describe().endswith(
        f"posted: contract_escrow:{story.contract_id} -{BID} USD,"
        f" freelancer_pending:{story.freelancer.user_id} +{BID - FEE} USD, platform_fees +{FEE} USD"
    )
    # money moves only where escrow posts it; the other services' entries post nothing
    assert all(e.postings == () for e in entries if e.service != "escrow")
    posted = [e for e in entries if e.postings]
    assert sum(a for e in posted for _, a, _ in e.postings) == 0  # each event balances
    assert by_type["ContractEnded"].recorded_at == PAYOUT_DAY
