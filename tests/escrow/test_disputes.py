"""Ending a contract, refund requests and disputes through the service: the money stays
held while disputed, and goes where the resolution or the withdrawal sends it."""

from __future__ import annotations

import pytest

from shared.errors import Conflict, Forbidden, ValidationError
from tests.escrow.driver import fixed_offer, usd

CLIENT, FREELANCER = "client-1", "free-1"


def test_a_client_ending_the_contract_asks_for_refunds_the_freelancer_may_dispute(escrow):
    contract_id = escrow.open_contract(fixed_offer(amounts=(10_000, 6_000)))
    first, second = (
        m["milestone_id"]
        for m in escrow.client(CLIENT, "get_contract", contract_id=contract_id)["milestones"]
    )
    escrow.fund_wallet(CLIENT, 16_000)
    for milestone_id in (first, second):
        escrow.client(CLIENT, "fund_milestone", contract_id=contract_id, milestone_id=milestone_id)
    ended = escrow.client(CLIENT, "end_contract", contract_id=contract_id, reason="over budget")
    assert ended["contract"]["status"] == "ended"
    refunds = {r["milestone_id"]: r["refund_id"] for r in ended["contract"]["refunds"]}
    assert set(refunds) == {first, second}
    escrow.check()

    escrow.freelancer(
        FREELANCER, "accept_refund", contract_id=contract_id, refund_id=refunds[second]
    )
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(6_000)
    with pytest.raises(Forbidden):  # the client disputes milestones, not refund requests
        escrow.client(
            CLIENT,
            "open_dispute",
            contract_id=contract_id,
            target_kind="refund",
            target_id=refunds[first],
            reason="x",
        )
    dispute = escrow.freelancer(
        FREELANCER,
        "open_dispute",
        contract_id=contract_id,
        target_kind="refund",
        target_id=refunds[first],
        reason="the work was delivered",
    )["dispute_id"]
    escrow.check()
    with pytest.raises(ValidationError) as caught:  # the split must add up to what is held
        escrow.operator(
            "resolve_dispute",
            contract_id=contract_id,
            dispute_id=dispute,
            refund=usd(3_000),
            release=usd(6_000),
        )
    assert caught.value.fields
    resolved = escrow.operator(
        "resolve_dispute",
        contract_id=contract_id,
        dispute_id=dispute,
        refund=usd(3_000),
        release=usd(7_000),
        note="most of it was delivered",
    )
    milestone = next(m for m in resolved["contract"]["milestones"] if m["milestone_id"] == first)
    assert milestone["status"] == "settled" and milestone["held"] == usd(0)
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(9_000)
    assert escrow.freelancer(FREELANCER, "wallet")["pending"] == usd(6_300)
    with pytest.raises(Conflict):
        escrow.operator(
            "resolve_dispute",
            contract_id=contract_id,
            dispute_id=dispute,
            refund=usd(3_000),
            release=usd(7_000),
        )
    escrow.check()


def test_a_withdrawn_dispute_puts_the_milestone_back(escrow):
    contract_id = escrow.open_contract(fixed_offer(amounts=(10_000,)))
    view = escrow.client(CLIENT, "get_contract", contract_id=contract_id)
    milestone_id = view["milestones"][0]["milestone_id"]
    escrow.fund_wallet(CLIENT, 10_000)
    escrow.client(CLIENT, "fund_milestone", contract_id=contract_id, milestone_id=milestone_id)
    escrow.freelancer(FREELANCER, "submit_work", contract_id=contract_id, milestone_id=milestone_id)
    dispute = escrow.client(
        CLIENT,
        "open_dispute",
        contract_id=contract_id,
        target_kind="milestone",
        target_id=milestone_id,
        reason="not finished",
    )["dispute_id"]
    with pytest.raises(Conflict):  # disputed money stays held
        escrow.client(
            CLIENT, "approve_milestone", contract_id=contract_id, milestone_id=milestone_id
        )
    with pytest.raises(Forbidden):  # only the opener withdraws
        escrow.freelancer(
            FREELANCER, "withdraw_dispute", contract_id=contract_id, dispute_id=dispute
        )
    back = escrow.client(CLIENT, "withdraw_dispute", contract_id=contract_id, dispute_id=dispute)
    assert back["contract"]["milestones"][0]["status"] == "submitted"
    escrow.client(CLIENT, "approve_milestone", contract_id=contract_id, milestone_id=milestone_id)
    assert escrow.freelancer(FREELANCER, "wallet")["pending"] == usd(9_000)
    escrow.check()
