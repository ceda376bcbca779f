"""Fixed-price escrow through the real service: open, deposit, fund, submit, approve,
security period, withdraw; the ledger invariants checked after every step."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.errors import Forbidden
from tests.escrow.driver import AUDITOR, fixed_offer, hourly_offer, usd

CLIENT, FREELANCER = "client-1", "free-1"


def test_a_milestone_from_funding_to_withdrawal(escrow):
    contract_id = escrow.open_contract(fixed_offer(amounts=(10_000,)))
    escrow.check()
    view = escrow.client(CLIENT, "get_contract", contract_id=contract_id)
    assert view["status"] == "active" and view["fees"]["freelancer_fee_bps"] == 1000
    milestone_id = view["milestones"][0]["milestone_id"]

    escrow.fund_wallet(CLIENT, 25_000)
    escrow.check()
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(25_000)

    funded = escrow.client(
        CLIENT, "fund_milestone", contract_id=contract_id, milestone_id=milestone_id
    )
    assert funded["contract"]["milestones"][0]["status"] == "funded"
    escrow.check()
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(15_000)

    escrow.freelancer(FREELANCER, "submit_work", contract_id=contract_id, milestone_id=milestone_id)
    escrow.check()
    partial = escrow.client(
        CLIENT,
        "approve_milestone",
        contract_id=contract_id,
        milestone_id=milestone_id,
        amount=usd(4_000),
    )
    milestone = partial["contract"]["milestones"][0]
    assert milestone["status"] == "partially_released" and milestone["held"] == usd(6_000)
    escrow.check()
    escrow.client(CLIENT, "approve_milestone", contract_id=contract_id, milestone_id=milestone_id)
    escrow.check()
    released_at = escrow.clock.now()

    wallet = escrow.freelancer(FREELANCER, "wallet")
    assert wallet["pending"] == usd(9_000) and wallet["available"] == usd(0)

    # the 5-day security period, at T-1 s, T and T+1 s
    due = released_at + timedelta(days=5)
    escrow.move_to(due - timedelta(seconds=1))
    assert escrow.fire_deadlines() == 0
    assert escrow.freelancer(FREELANCER, "wallet")["available"] == usd(0)
    escrow.move_to(due)
    assert escrow.fire_deadlines() == 2
    escrow.check()
    wallet = escrow.freelancer(FREELANCER, "wallet")
    assert wallet["available"] == usd(9_000) and wallet["pending"] == usd(0)
    escrow.move_to(due + timedelta(seconds=1))
    assert escrow.fire_deadlines() == 0
    assert escrow.freelancer(FREELANCER, "wallet")["available"] == usd(9_000)

    payout = escrow.freelancer(FREELANCER, "withdraw", amount=usd(9_000))
    assert escrow.freelancer(FREELANCER, "wallet")["in_flight"] == usd(9_000)
    escrow.check()
    escrow.operator(
        "confirm_provider_payment",
        operation="withdrawal",
        operation_id=payout["withdrawal_id"],
    )
    escrow.check()
    wallet = escrow.freelancer(FREELANCER, "wallet")
    assert wallet["available"] == usd(0) and wallet["in_flight"] == usd(0)

    # the ledger: the holder reads their account, now and as it stood
    statement = escrow.freelancer(
        FREELANCER, "ledger", account=f"freelancer_available:{FREELANCER}"
    )
    assert statement["balance"] == 0
    assert [e["amount"] for e in statement["entries"]] == [3_600, 5_400, -9_000]
    before = escrow.freelancer(
        FREELANCER,
        "ledger",
        account=f"freelancer_available:{FREELANCER}",
        as_of=due.isoformat(),
    )
    assert before["balance"] == 9_000
    fees = escrow.call(AUDITOR, "auditor", "ledger", account="platform_fees")
    assert fees["balance"] == 1_000
    escrow_account = escrow.client(CLIENT, "ledger", account=f"contract_escrow:{contract_id}")
    assert escrow_account["balance"] == 0 and len(escrow_account["entries"]) == 3
    with pytest.raises(Forbidden):
        escrow.client(CLIENT, "ledger", account=f"freelancer_available:{FREELANCER}")
    with pytest.raises(Forbidden):
        escrow.client(CLIENT, "ledger", account="platform_fees")
    with pytest.raises(Forbidden):
        escrow.client("someone", "ledger", account=f"contract_escrow:{contract_id}")


def test_each_contract_command_answers_with_the_row_get_contract_reads(escrow):
    """A contract command's result is the view of the aggregate it saved, not a read of the
    row the projection wrote: the two must be the same, after every kind of change."""
    contract_id = escrow.open_contract(fixed_offer(amounts=(4_000, 6_000)))
    escrow.fund_wallet(CLIENT, 20_000)
    first, second = (
        m["milestone_id"]
        for m in escrow.client(CLIENT, "get_contract", contract_id=contract_id)["milestones"]
    )
    steps = [
        (CLIENT, "fund_milestone", {"milestone_id": first}),
        (FREELANCER, "submit_work", {"milestone_id": first}),
        (CLIENT, "request_changes", {"milestone_id": first, "message": "Add the calendar."}),
        (FREELANCER, "submit_work", {"milestone_id": first}),
        (CLIENT, "approve_milestone", {"milestone_id": first}),
        (CLIENT, "fund_milestone", {"milestone_id": second}),
    ]
    hourly_id = escrow.open_contract(hourly_offer(client=CLIENT, freelancer=FREELANCER))
    steps += [
        (CLIENT, "pause_contract", {"reason": "Holiday.", "contract_id": hourly_id}),
        (CLIENT, "resume_contract", {"contract_id": hourly_id}),
    ]
    for user, method, args in steps:
        roles = "client" if user == CLIENT else "freelancer"
        args = {"contract_id": contract_id, **args}
        answered = escrow.call(user, roles, method, **args)["contract"]
        assert answered == escrow.client(CLIENT, "get_contract", contract_id=args["contract_id"])
