"""Races on real PostgreSQL: many commands on one milestone at once, and a timer firing
while the client acts. Exactly one outcome; money moves once."""

from __future__ import annotations

from datetime import timedelta

import eventlet

from shared.errors import Conflict
from tests.escrow.driver import fixed_offer, usd

CLIENT, FREELANCER = "client-1", "free-1"


def submitted_milestones(escrow, amounts):
    contract_id = escrow.open_contract(fixed_offer(amounts=amounts))
    view = escrow.client(CLIENT, "get_contract", contract_id=contract_id)
    escrow.fund_wallet(CLIENT, sum(amounts))
    ids = [m["milestone_id"] for m in view["milestones"]]
    for milestone_id in ids:
        escrow.client(CLIENT, "fund_milestone", contract_id=contract_id, milestone_id=milestone_id)
        escrow.freelancer(
            FREELANCER, "submit_work", contract_id=contract_id, milestone_id=milestone_id
        )
    return contract_id, ids


def test_twenty_concurrent_approve_refund_and_dispute_commands_have_one_outcome(escrow):
    contract_id, (milestone_id,) = submitted_milestones(escrow, (10_000,))
    target = {"contract_id": contract_id, "milestone_id": milestone_id}
    commands = []
    for i in range(20):
        if i % 3 == 0:
            commands.append(("approve_milestone", target))
        elif i % 3 == 1:
            commands.append(("request_refund", {**target, "reason": "changed my mind"}))
        else:
            commands.append(
                (
                    "open_dispute",
                    {
                        "contract_id": contract_id,
                        "target_kind": "milestone",
                        "target_id": milestone_id,
                        "reason": "not what we agreed",
                    },
                )
            )

    def attempt(command):
        method, kwargs = command
        try:
            return method, escrow.rpc(CLIENT, "client", method, **kwargs)
        except Conflict as exc:
            return method, exc

    pool = eventlet.GreenPool(20)
    outcomes = list(pool.imap(attempt, commands))
    won = [method for method, result in outcomes if not isinstance(result, Exception)]
    assert len(won) == 1, outcomes
    decided = {
        "approve_milestone": "MilestoneReleased",
        "request_refund": "RefundRequested",
        "open_dispute": "DisputeOpened",
    }
    for method, event_type in decided.items():
        assert escrow.count(event_type) == (1 if won == [method] else 0)
    assert escrow.count("ClientFundsCredited") == 0
    escrow.check()
    wallet = escrow.freelancer(FREELANCER, "wallet")
    assert wallet["pending"] == (usd(9_000) if won == ["approve_milestone"] else usd(0))


def test_auto_approve_firing_while_the_client_acts_decides_once(escrow):
    contract_id, (refunded, approved) = submitted_milestones(escrow, (10_000, 20_000))
    due = escrow.clock.now() + timedelta(days=14)
    escrow.move_to(due)

    def client_acts():
        results = []
        for method, milestone_id in (("request_refund", refunded), ("approve_milestone", approved)):
            try:
                results.append(
                    escrow.rpc(
                        CLIENT,
                        "client",
                        method,
                        contract_id=contract_id,
                        milestone_id=milestone_id,
                    )
                )
            except Conflict as exc:
                results.append(exc)
        return results

    pool = eventlet.GreenPool(2)
    timer = pool.spawn(escrow.fire_deadlines_beside)
    client = pool.spawn(client_acts)
    pool.waitall()
    timer.wait(), client.wait()
    escrow.fire_deadlines()  # anything left due fires now, or is moot

    view = escrow.client(CLIENT, "get_contract", contract_id=contract_id)
    first, second = view["milestones"]
    # the refunded milestone: either auto-approved, or refund requested; never both
    assert first["status"] in ("released", "refund_requested")
    assert (first["status"] == "released") == (first["released"] == usd(10_000))
    releases = escrow.rows(
        "SELECT data->>'milestone_id' FROM events WHERE type = 'MilestoneReleased'"
    )
    assert sorted(r[0] for r in releases).count(approved) == 1
    assert second["status"] == "released" and second["released"] == usd(20_000)
    assert escrow.count("RefundRequested") == (1 if first["status"] == "refund_requested" else 0)
    escrow.check()
