"""Disputes, all services running: the client disputes a funded milestone and an invoiced
hourly week, the money stays held, an operator splits each, and every service learns the
outcomes from escrow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Conflict
from tests.e2e.conftest import START, usd, wait_until
from tests.e2e.flows import hire, job_details

AMOUNT = 400_00
DEPOSIT = 500_00
REFUND, RELEASE = 150_00, 250_00
FEE = RELEASE // 10  # the freelancer's 10 % of what is released
# the hourly contract: four hours on Tuesday 3 March at 40.00, disputed in review
RATE, WEEK_GROSS = 40_00, 160_00
WEEK_REFUND, WEEK_RELEASE = 60_00, 100_00
WEEK_FEE = WEEK_RELEASE // 10
WEEK_START = datetime(2026, 3, 2, tzinfo=UTC)
INVOICE_AT = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
AVAILABLE_AT = datetime(2026, 3, 18, 0, 0, tzinfo=UTC)


def test_a_disputed_milestone_split_by_an_operator(market):
    client = market.register("client", name="Dora Disputes")
    freelancer = market.register("freelancer", name="Finn Fixed")
    operator = market.operator()
    contract_id = hire(
        market,
        client,
        freelancer,
        job=job_details(
            "Migrate our studio bookings to Django",
            {"type": "fixed", "amount": usd(AMOUNT)},
        ),
        bid=usd(AMOUNT),
        offer={"kind": "fixed", "milestones": [{"title": "Migration", "amount": usd(AMOUNT)}]},
        start=START,
    )
    market.deposit(client, operator, DEPOSIT)
    with client.rpc() as rpc:
        (milestone,) = rpc.escrow.get_contract(contract_id=contract_id)["milestones"]
        target = {"contract_id": contract_id, "milestone_id": milestone["milestone_id"]}
        rpc.escrow.fund_milestone(**target)
    with freelancer.rpc() as rpc:
        rpc.escrow.submit_work(message="Migrated, please check.", **target)
    with client.rpc() as rpc:
        opened = rpc.escrow.open_dispute(
            contract_id=contract_id,
            target_kind="milestone",
            target_id=milestone["milestone_id"],
            reason="Half the bookings are missing.",
        )
        dispute_id = opened["dispute_id"]
        # while disputed, the money stays held: approving is refused
        with pytest.raises(Conflict):
            rpc.escrow.approve_milestone(**target)
    assert market.ledger_balance(client, f"contract_escrow:{contract_id}") == AMOUNT

    # the operator reads the contract room for the dispute, then splits the money
    with client.rpc() as rpc:
        room = wait_until(
            lambda: next(
                (r for r in rpc.messaging.list_rooms()["rooms"] if r["kind"] == "contract"),
                None,
            ),
            "messaging opens the contract room",
        )
        rpc.messaging.send_message(room_id=room["room_id"], body="Bookings before May are gone.")
    with operator.rpc() as rpc:
        rpc.messaging.request_room_access(
            room_id=room["room_id"], reason="dispute review", dispute_id=dispute_id
        )
        seen = rpc.messaging.list_messages(room_id=room["room_id"])["messages"]
        assert [m["body"] for m in seen] == ["Bookings before May are gone."]
        resolved = rpc.escrow.resolve_dispute(
            contract_id=contract_id,
            dispute_id=dispute_id,
            refund=usd(REFUND),
            release=usd(RELEASE),
            note="Partly delivered.",
        )
    assert resolved["contract"]["contract_id"] == contract_id
    with client.rpc() as rpc:
        assert rpc.escrow.wallet()["balance"] == usd(DEPOSIT - AMOUNT + REFUND)
    with freelancer.rpc() as rpc:
        wallet = rpc.escrow.wallet()
    assert (wallet["pending"], wallet["available"]) == (usd(RELEASE - FEE), usd(0))
    market.assert_healthy()

    # the same pair also works by the hour; the freelancer logs Tuesday's time
    hourly_id = hire(
        market,
        client,
        freelancer,
        job=job_details(
            "Keep our studio booking site running",
            # a medium budget band: the freelancer's free connects cover both proposals
            {"type": "hourly", "min": usd(20_00), "max": usd(30_00)},
            hours_per_week="less_than_30",
        ),
        bid=usd(RATE),
        offer={
            "kind": "hourly",
            "hourly_rate": usd(RATE),
            "weekly_limit_hours": 20,
            "manual_time_allowed": True,
        },
        start=START,
    )
    market.clock.set(datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    freelancer.login()
    with freelancer.rpc() as rpc:
        rpc.escrow.log_time(
            contract_id=hourly_id,
            start=datetime(2026, 3, 3, 10, 0, tzinfo=UTC).isoformat(),
            end=datetime(2026, 3, 3, 14, 0, tzinfo=UTC).isoformat(),
            memo="server upgrade",
        )

    # after the security period the milestone's released part is available
    market.clock.set(START + timedelta(days=5, hours=1))
    market.fire_timers()
    for user in (client, freelancer, operator):
        user.login()
    with freelancer.rpc() as rpc:
        wallet = rpc.escrow.wallet()
    assert (wallet["pending"], wallet["available"]) == (usd(0), usd(RELEASE - FEE))

    # Monday 12:00 the week is invoiced and paid; in review the client disputes it
    market.clock.set(INVOICE_AT)
    market.fire_timers()
    for user in (client, freelancer, operator):
        user.login()
    with client.rpc() as rpc:
        assert rpc.escrow.wallet()["balance"] == usd(DEPOSIT - AMOUNT + REFUND - WEEK_GROSS)
        week_dispute = rpc.escrow.open_dispute(
            contract_id=hourly_id,
            target_kind="week",
            target_id=WEEK_START.isoformat(),
            reason="Two of the four hours were spent waiting.",
        )["dispute_id"]
    with operator.rpc() as rpc:
        rpc.escrow.resolve_dispute(
            contract_id=hourly_id,
            dispute_id=week_dispute,
            refund=usd(WEEK_REFUND),
            release=usd(WEEK_RELEASE),
            note="Half of the waiting time is billable.",
        )
    # the released part of a week becomes available on the week's Wednesday, not before
    market.clock.set(AVAILABLE_AT - timedelta(seconds=1))
    market.fire_timers()
    freelancer.login()
    with freelancer.rpc() as rpc:
        assert rpc.escrow.wallet()["pending"] == usd(WEEK_RELEASE - WEEK_FEE)
    market.clock.set(AVAILABLE_AT)
    market.fire_timers()
    for user in (client, freelancer, operator):
        user.login()
    with freelancer.rpc() as rpc:
        wallet = rpc.escrow.wallet()
    earned = RELEASE - FEE + WEEK_RELEASE - WEEK_FEE
    assert (wallet["pending"], wallet["available"]) == (usd(0), usd(earned))

    available = market.ledger_balance(freelancer, f"freelancer_available:{freelancer.user_id}")
    client_wallet = market.ledger_balance(client, f"client_wallet:{client.user_id}")
    escrowed = market.ledger_balance(client, f"contract_escrow:{contract_id}")
    escrowed += market.ledger_balance(client, f"contract_escrow:{hourly_id}")
    fees = market.ledger_balance(operator, "platform_fees")
    clearing = market.ledger_balance(operator, "provider_clearing:USD")
    assert (available, client_wallet, escrowed, fees) == (
        earned,
        DEPOSIT - AMOUNT + REFUND - WEEK_GROSS + WEEK_REFUND,
        0,
        FEE + WEEK_FEE,
    )
    assert available + client_wallet + escrowed + fees == -clearing == DEPOSIT

    # reputation and jobs learn both splits from escrow's DisputeResolved
    wait_until(
        lambda: (
            market.scalar(
                "reputation", "SELECT count(*) FROM events WHERE type = 'DisputeOutcomeNoted'"
            )
            == 2
        ),
        "reputation notes both dispute outcomes",
    )
    with client.rpc() as rpc:
        stats = rpc.reputation.client_stats(client_id=client.user_id)
    assert stats["total_spent"] == [usd(RELEASE + WEEK_RELEASE)]
    wait_until(
        lambda: market.scalar("jobs", "SELECT count(*) FROM events WHERE type = 'SpendNoted'") == 2,
        "jobs notes the released parts as spend",
    )
    market.assert_healthy()
