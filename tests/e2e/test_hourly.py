"""An hourly contract across a week boundary, all services running: time logged within the
weekly limit, the invoice on Monday 12:00 UTC, review through Friday, the money available
the following Wednesday, each step fired by the timers after the clock moves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import ValidationError
from tests.e2e.conftest import START, usd, wait_until
from tests.e2e.flows import hire, job_details

RATE = 40_00  # per hour
LIMIT_HOURS = 10
DEPOSIT = 500_00
# Tuesday 10:00-14:00 and Wednesday 09:00-11:30 of the week starting Monday 2 March 2026
MINUTES = 4 * 60 + 150
GROSS = RATE * MINUTES // 60  # 260.00
FEE = GROSS // 10  # the freelancer's 10 %

WEEK_START = datetime(2026, 3, 2, tzinfo=UTC)
INVOICE_AT = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # Monday 12:00
REVIEW_UNTIL = datetime(2026, 3, 14, 0, 0, tzinfo=UTC)  # after Friday 23:59:59
AVAILABLE_AT = datetime(2026, 3, 18, 0, 0, tzinfo=UTC)  # the following Wednesday


def at(day: int, hour: int, minute: int = 0) -> str:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC).isoformat()


def test_an_hourly_week_from_logged_time_to_available_earnings(market):
    client = market.register("client", name="Hana Hourly")
    freelancer = market.register("freelancer", name="Ivo Hours")
    operator = market.operator()
    contract_id = hire(
        market,
        client,
        freelancer,
        job=job_details(
            "Maintain our studio booking platform",
            {"type": "hourly", "min": usd(25_00), "max": usd(60_00)},
            hours_per_week="less_than_30",
        ),
        bid=usd(RATE),
        offer={
            "kind": "hourly",
            "hourly_rate": usd(RATE),
            "weekly_limit_hours": LIMIT_HOURS,
            "manual_time_allowed": True,
        },
        start=START,
    )
    market.deposit(client, operator, DEPOSIT)

    market.clock.set(datetime(2026, 3, 6, 18, 0, tzinfo=UTC))  # Friday evening
    for user in (client, freelancer, operator):
        user.login()
    with freelancer.rpc() as rpc:
        rpc.escrow.log_time(
            contract_id=contract_id, start=at(3, 10), end=at(3, 14), memo="calendar sync"
        )
        rpc.escrow.log_time(
            contract_id=contract_id, start=at(4, 9), end=at(4, 11, 30), memo="payments"
        )
        # four more hours would pass the 10-hour weekly limit
        with pytest.raises(ValidationError):
            rpc.escrow.log_time(contract_id=contract_id, start=at(5, 9), end=at(5, 13))
        (week,) = rpc.escrow.get_contract(contract_id=contract_id)["weeks"]
    assert week["minutes"] == MINUTES

    # one second before Monday 12:00 nothing is invoiced; at 12:00 the client is charged
    market.clock.set(INVOICE_AT.replace(hour=11, minute=59, second=59))
    market.fire_timers()
    market.clock.set(INVOICE_AT)
    market.fire_timers()
    for user in (client, freelancer, operator):
        user.login()
    with client.rpc() as rpc:
        (week,) = rpc.escrow.get_contract(contract_id=contract_id)["weeks"]
        assert week["status"] == "in_review"
        assert rpc.escrow.wallet()["balance"] == usd(DEPOSIT - GROSS)
    assert market.ledger_balance(client, f"contract_escrow:{contract_id}") == GROSS

    # review ends after Friday: released to pending, available the following Wednesday
    market.clock.set(REVIEW_UNTIL)
    market.fire_timers()
    freelancer.login()
    with freelancer.rpc() as rpc:
        wallet = rpc.escrow.wallet()
    assert (wallet["pending"], wallet["available"]) == (usd(GROSS - FEE), usd(0))

    market.clock.set(AVAILABLE_AT)
    market.fire_timers()
    for user in (client, freelancer, operator):
        user.login()
    with freelancer.rpc() as rpc:
        wallet = rpc.escrow.wallet()
    assert (wallet["pending"], wallet["available"]) == (usd(0), usd(GROSS - FEE))

    # the wallets agree with their ledger accounts, and the money adds up
    available = market.ledger_balance(freelancer, f"freelancer_available:{freelancer.user_id}")
    client_wallet = market.ledger_balance(client, f"client_wallet:{client.user_id}")
    fees = market.ledger_balance(operator, "platform_fees")
    clearing = market.ledger_balance(operator, "provider_clearing:USD")
    assert (available, client_wallet, fees) == (GROSS - FEE, DEPOSIT - GROSS, FEE)
    assert market.ledger_balance(client, f"contract_escrow:{contract_id}") == 0
    assert available + client_wallet + fees == -clearing == DEPOSIT

    # the other services learnt of the payment from escrow's HourlyWeekReleased
    with client.rpc() as rpc:
        stats = wait_until(
            lambda: (
                (s := rpc.reputation.client_stats(client_id=client.user_id))["total_spent"] and s
            ),
            "reputation notes the payment",
        )
    assert stats["total_spent"] == [usd(GROSS)]
    wait_until(
        lambda: market.scalar("jobs", "SELECT count(*) FROM events WHERE type = 'SpendNoted'") == 1,
        "jobs notes the spend",
    )
    market.assert_healthy()
