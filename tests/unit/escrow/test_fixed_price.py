"""Fixed price: given events, when a command, then new events (or an error)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.escrow.domain import contract_id_for_offer, offer_milestone_id
from services.escrow.settings import EscrowSettings, FeeSchedule
from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from shared.money import Money

from .harness import CLIENT, FREELANCER, SECOND, STRANGER, Harness, fixed_offer, types, usd


@pytest.fixture
def h() -> Harness:
    return Harness()


def opened(h: Harness, deposit: int = 100_000) -> tuple[str, str, str]:
    cid = h.open(fixed_offer())
    if deposit:
        h.deposit(CLIENT, deposit)
    return cid, offer_milestone_id(cid, 0), offer_milestone_id(cid, 1)


def funded(h: Harness, deposit: int = 100_000) -> tuple[str, str]:
    cid, m1, _ = opened(h, deposit)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    c.fund_milestone(m1, CLIENT, h.now, cw)
    h.commit(c, cw)
    return cid, m1


def submitted(h: Harness) -> tuple[str, str]:
    cid, m1 = funded(h)
    c = h.contract(cid)
    c.submit_work(m1, "here it is", FREELANCER, h.now)
    h.commit(c)
    return cid, m1


def refused(exc_type, command, *aggregates):
    """The command raises ``exc_type`` and none of the aggregates recorded anything."""
    with pytest.raises(exc_type) as info:
        command()
    assert all(a.pending == [] for a in aggregates)
    return info.value


# -- opening ----------------------------------------------------------------------------------


def test_offer_accepted_opens_contract_with_fee_schedule_and_milestones(h):
    cid = contract_id_for_offer("offer-1")
    c = h.contract(cid)
    c.open(fixed_offer(), FeeSchedule(1000, 300), h.now)
    events = h.commit(c)
    assert types(events) == ["ContractOpened", "MilestoneAdded", "MilestoneAdded"]
    assert events[0].data["fees"] == {"freelancer_fee_bps": 1000, "client_fee_bps": 300}
    assert events[0].stream == f"contract-{cid}"
    assert events[1].data["amount"] == {"amount": 50_000, "currency": "USD"}


def test_opening_twice_from_the_same_offer_is_a_no_op(h):
    cid = h.open(fixed_offer())
    c = h.contract(cid)
    c.open(fixed_offer(), h.fees, h.now)
    assert c.pending == []
    assert contract_id_for_offer("offer-1") == cid != contract_id_for_offer("offer-2")


def test_offer_where_the_client_hires_themselves_is_refused(h):
    offer = fixed_offer()
    offer["freelancer_id"] = CLIENT
    c = h.contract(contract_id_for_offer("offer-1"))
    refused(ValidationError, lambda: c.open(offer, h.fees, h.now), c)


def test_offer_with_milestone_in_another_currency_is_refused(h):
    offer = fixed_offer()
    offer["terms"]["milestones"][0]["amount"] = Money(100, "EUR")
    c = h.contract(contract_id_for_offer("offer-1"))
    refused(ValidationError, lambda: c.open(offer, h.fees, h.now), c)


# -- milestones -------------------------------------------------------------------------------


def test_client_adds_a_milestone(h):
    cid, _, _ = opened(h)
    c = h.contract(cid)
    c.add_milestone("m-3", "Extra", usd(1_000), CLIENT, h.now, due_date="2026-02-01")
    assert types(h.commit(c)) == ["MilestoneAdded"]
    assert h.contract(cid).milestones["m-3"].due_date == "2026-02-01"


@pytest.mark.parametrize(
    "actor, amount, error",
    [
        (FREELANCER, 1_000, Forbidden),
        (STRANGER, 1_000, Forbidden),
        (CLIENT, 0, ValidationError),
        (CLIENT, -5, ValidationError),
        (CLIENT, 499, ValidationError),  # below the 5.00 minimum
    ],
)
def test_add_milestone_rules(h, actor, amount, error):
    cid, _, _ = opened(h)
    c = h.contract(cid)
    refused(error, lambda: c.add_milestone("m-3", "x", usd(amount), actor, h.now), c)


def test_add_milestone_in_the_wrong_currency_is_refused(h):
    cid, _, _ = opened(h)
    c = h.contract(cid)
    err = refused(
        ValidationError, lambda: c.add_milestone("m", "x", Money(900, "EUR"), CLIENT, h.now), c
    )
    assert "amount" in err.fields


def test_fund_moves_the_amount_from_wallet_to_escrow(h):
    cid, m1, _ = opened(h)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    c.fund_milestone(m1, CLIENT, h.now, cw)
    assert types(h.commit(c, cw)) == ["MilestoneFunded", "ClientFundsDebited"]
    assert h.ledger.balance(f"contract_escrow:{cid}", "USD") == 50_000
    assert h.wallet(CLIENT).balance == usd(50_000)
    assert h.contract(cid).milestones[m1].status == "funded"


def test_fund_charges_the_client_fee_on_top(h):
    h.fees = FeeSchedule(1000, 500)
    cid, m1, _ = opened(h)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    c.fund_milestone(m1, CLIENT, h.now, cw)
    h.commit(c, cw)
    assert h.ledger.balance("platform_fees", "USD") == 2_500
    assert h.wallet(CLIENT).balance == usd(100_000 - 52_500)


def test_fund_without_enough_in_the_wallet_moves_nothing(h):
    cid, m1, _ = opened(h, deposit=49_999)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    err = refused(Conflict, lambda: c.fund_milestone(m1, CLIENT, h.now, cw), c, cw)
    assert "insufficient funds" in str(err)


def test_only_the_client_funds(h):
    cid, m1, _ = opened(h)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    refused(Forbidden, lambda: c.fund_milestone(m1, FREELANCER, h.now, cw), c, cw)
    refused(Forbidden, lambda: c.fund_milestone(m1, STRANGER, h.now, cw), c, cw)


def test_funding_twice_is_a_conflict(h):
    cid, m1 = funded(h)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    refused(Conflict, lambda: c.fund_milestone(m1, CLIENT, h.now, cw), c, cw)


def test_funding_an_unknown_milestone_is_not_found(h):
    cid, _, _ = opened(h)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    refused(NotFound, lambda: c.fund_milestone("nope", CLIENT, h.now, cw), c, cw)


def test_minimum_funding_is_configurable_and_checked_when_funding(h):
    cid, m1, _ = opened(h)
    strict = EscrowSettings(minimum_funding={"USD": 60_000})
    c, cw = h.contract(cid), h.wallet(CLIENT)
    refused(ValidationError, lambda: c.fund_milestone(m1, CLIENT, h.now, cw, strict), c, cw)
    exact = EscrowSettings(minimum_funding={"USD": 50_000})
    c.fund_milestone(m1, CLIENT, h.now, cw, exact)
    h.commit(c, cw)


# -- submission and review --------------------------------------------------------------------


def test_submit_starts_the_review_clock_recording_the_window(h):
    cid, m1 = funded(h)
    c = h.contract(cid)
    c.submit_work(m1, "done", FREELANCER, h.now)
    (event,) = h.commit(c)
    assert event.type == "WorkSubmitted"
    assert event.data["auto_approve_after_seconds"] == 14 * 86400
    assert event.data["auto_approve_at"] == (h.now + timedelta(days=14)).isoformat()


def test_only_the_freelancer_submits(h):
    cid, m1 = funded(h)
    c = h.contract(cid)
    refused(Forbidden, lambda: c.submit_work(m1, "x", CLIENT, h.now), c)
    refused(Forbidden, lambda: c.submit_work(m1, "x", STRANGER, h.now), c)


def test_unfunded_milestone_cannot_be_submitted(h):
    cid, m1, _ = opened(h)
    c = h.contract(cid)
    refused(Conflict, lambda: c.submit_work(m1, "x", FREELANCER, h.now), c)


def test_request_changes_then_resubmission_restarts_the_clock(h):
    cid, m1 = submitted(h)
    c = h.contract(cid)
    c.request_changes(m1, "more please", CLIENT, h.now)
    assert types(h.commit(c)) == ["ChangesRequested"]
    h.advance(days=3)
    c = h.contract(cid)
    c.submit_work(m1, "again", FREELANCER, h.now)
    (event,) = h.commit(c)
    assert event.data["submission"] == 2
    assert event.data["auto_approve_at"] == (h.now + timedelta(days=14)).isoformat()


def test_only_the_client_requests_changes_and_only_on_submitted_work(h):
    cid, m1 = funded(h)
    c = h.contract(cid)
    refused(Conflict, lambda: c.request_changes(m1, "x", CLIENT, h.now), c)
    c.submit_work(m1, "x", FREELANCER, h.now)
    h.commit(c)
    c = h.contract(cid)
    refused(Forbidden, lambda: c.request_changes(m1, "x", FREELANCER, h.now), c)


# -- approval and release ---------------------------------------------------------------------


def test_full_approval_releases_net_to_pending_and_fee_to_platform(h):
    cid, m1 = submitted(h)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    c.approve_milestone(m1, CLIENT, h.now, fw)
    events = h.commit(c, fw)
    assert types(events) == ["MilestoneReleased", "EarningsPending"]
    assert events[0].data["gross"]["amount"] == 50_000
    assert events[0].data["net"]["amount"] == 45_000
    assert events[0].data["fee"]["amount"] == 5_000
    assert events[0].data["available_at"] == (h.now + timedelta(days=5)).isoformat()
    assert h.ledger.balance(f"freelancer_pending:{FREELANCER}", "USD") == 45_000
    assert h.ledger.balance("platform_fees", "USD") == 5_000
    assert h.contract(cid).milestones[m1].status == "released"


def test_partial_approval_keeps_the_rest_held_then_a_second_approval_releases_it(h):
    cid, m1 = submitted(h)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    c.approve_milestone(m1, CLIENT, h.now, fw, amount=usd(20_000))
    h.commit(c, fw)
    m = h.contract(cid).milestones[m1]
    assert (m.status, m.held) == ("partially_released", usd(30_000))
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    c.approve_milestone(m1, CLIENT, h.now, fw)
    events = h.commit(c, fw)
    assert events[1].data["payment_id"] != f"milestone:{m1}:1"
    assert h.contract(cid).milestones[m1].status == "released"


@pytest.mark.parametrize("amount", [0, -1, 50_001])
def test_approval_amount_must_be_positive_and_within_escrow(h, amount):
    cid, m1 = submitted(h)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    err = refused(
        ValidationError, lambda: c.approve_milestone(m1, CLIENT, h.now, fw, usd(amount)), c, fw
    )
    assert "amount" in err.fields


def test_approval_in_the_wrong_currency_is_refused(h):
    cid, m1 = submitted(h)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    refused(
        ValidationError, lambda: c.approve_milestone(m1, CLIENT, h.now, fw, Money(5, "EUR")), c, fw
    )


def test_only_the_client_approves(h):
    cid, m1 = submitted(h)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    refused(Forbidden, lambda: c.approve_milestone(m1, FREELANCER, h.now, fw), c, fw)
    refused(Forbidden, lambda: c.approve_milestone(m1, STRANGER, h.now, fw), c, fw)


def test_released_milestone_cannot_be_approved_again(h):
    cid, m1 = submitted(h)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    c.approve_milestone(m1, CLIENT, h.now, fw)
    h.commit(c, fw)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    refused(Conflict, lambda: c.approve_milestone(m1, CLIENT, h.now, fw), c, fw)


def test_fee_rounding_keeps_gross_equal_to_net_plus_fee(h):
    h.fees = FeeSchedule(1250, 0)
    cid, m1 = submitted(h)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    c.approve_milestone(m1, CLIENT, h.now, fw, usd(1_003))
    (released, _) = h.commit(c, fw)
    # 1003 * 12.5% = 125.375 -> 125 (half up), net 878.
    assert released.data["fee"]["amount"] == 125
    assert released.data["net"]["amount"] == 878


# -- the 14-day auto-approve window ---------------------------------------------------------


def test_auto_approve_at_t_minus_one_second_is_refused(h):
    _, m1 = submitted(h)
    deadline = h.due("milestone.auto_approve", milestone_id=m1)
    h.at(deadline.due_at - SECOND)
    with pytest.raises(Conflict):
        h.fire(deadline)
    assert h.ledger.balance(f"freelancer_pending:{FREELANCER}", "USD") == 0


@pytest.mark.parametrize("late", [timedelta(0), SECOND])
def test_auto_approve_at_t_and_after_releases_everything(h, late):
    cid, m1 = submitted(h)
    deadline = h.due("milestone.auto_approve", milestone_id=m1)
    assert deadline.due_at == h.now + timedelta(days=14)
    h.at(deadline.due_at + late)
    events = h.fire(deadline)
    assert types(events) == ["MilestoneReleased", "EarningsPending"]
    assert events[0].data["automatic"] is True
    assert h.contract(cid).milestones[m1].status == "released"


def test_auto_approve_uses_the_window_recorded_at_submission(h):
    cid, m1 = funded(h)
    c = h.contract(cid)
    c.submit_work(m1, "x", FREELANCER, h.now, EscrowSettings(auto_approve_after=timedelta(days=3)))
    h.commit(c)
    deadline = h.due("milestone.auto_approve", milestone_id=m1)
    # The configuration changes afterwards; the recorded due time still decides.
    h.settings = EscrowSettings(auto_approve_after=timedelta(days=30))
    h.at(deadline.due_at)
    assert types(h.fire(deadline)) == ["MilestoneReleased", "EarningsPending"]


def test_auto_approve_after_the_client_approved_is_a_no_op(h):
    cid, m1 = submitted(h)
    deadline = h.due("milestone.auto_approve", milestone_id=m1)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    c.approve_milestone(m1, CLIENT, h.now, fw)
    h.commit(c, fw)
    h.at(deadline.due_at)
    assert h.fire(deadline) == []


def test_stale_auto_approve_after_changes_and_resubmission_is_a_no_op(h):
    cid, m1 = submitted(h)
    first = h.due("milestone.auto_approve", milestone_id=m1)
    c = h.contract(cid)
    c.request_changes(m1, "again", CLIENT, h.now)
    h.commit(c)
    h.advance(days=1)
    c = h.contract(cid)
    c.submit_work(m1, "v2", FREELANCER, h.now)
    h.commit(c)
    h.at(first.due_at)
    assert h.fire(first) == []
    second = [d for d in h.deadlines.values() if d.kind == first.kind and d != first][0]
    h.at(second.due_at)
    assert types(h.fire(second))[0] == "MilestoneReleased"


# -- the 5-day security period ----------------------------------------------------------------


def released(h: Harness) -> str:
    cid, m1 = submitted(h)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    c.approve_milestone(m1, CLIENT, h.now, fw)
    h.commit(c, fw)
    return m1


def test_earnings_are_not_available_at_t_minus_one_second(h):
    released(h)
    deadline = h.due("earnings.available")
    h.at(deadline.due_at - SECOND)
    with pytest.raises(Conflict):
        h.fire(deadline)
    assert h.wallet(FREELANCER).earnings_available == usd(0)


@pytest.mark.parametrize("late", [timedelta(0), SECOND])
def test_earnings_become_available_at_t_and_after(h, late):
    start = h.now
    released(h)
    deadline = h.due("earnings.available")
    assert deadline.due_at == start + timedelta(days=5)
    h.at(deadline.due_at + late)
    assert types(h.fire(deadline)) == ["EarningsAvailable"]
    wallet = h.wallet(FREELANCER)
    assert (wallet.earnings_pending, wallet.earnings_available) == (usd(0), usd(45_000))
    assert h.fire(deadline) == []  # firing twice moves nothing


# -- refunds ----------------------------------------------------------------------------------


def test_client_refund_request_waits_for_the_freelancer(h):
    cid, m1 = funded(h)
    c = h.contract(cid)
    c.request_refund("r-1", m1, CLIENT, h.now, reason="changed plans")
    (event,) = h.commit(c)
    assert event.type == "RefundRequested"
    assert event.data["respond_by"] == (h.now + timedelta(days=7)).isoformat()
    assert h.ledger.balance(f"contract_escrow:{cid}", "USD") == 50_000


def test_freelancer_accepts_a_refund(h):
    cid, m1 = funded(h)
    c = h.contract(cid)
    c.request_refund("r-1", m1, CLIENT, h.now)
    h.commit(c)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    refused(Forbidden, lambda: c.accept_refund("r-1", CLIENT, h.now, cw), c, cw)
    c.accept_refund("r-1", FREELANCER, h.now, cw)
    assert types(h.commit(c, cw)) == ["EscrowRefunded", "ClientFundsCredited"]
    assert h.wallet(CLIENT).balance == usd(100_000)
    assert h.contract(cid).milestones[m1].status == "refunded"


def test_partial_refund_returns_the_milestone_to_its_state(h):
    cid, m1 = submitted(h)
    c = h.contract(cid)
    c.request_refund("r-1", m1, CLIENT, h.now, amount=usd(10_000))
    h.commit(c)
    h.advance(days=20)  # the old review window lapsed while frozen
    c, cw = h.contract(cid), h.wallet(CLIENT)
    c.accept_refund("r-1", FREELANCER, h.now, cw)
    events = h.commit(c, cw)
    assert events[0].data["resumes"]["status"] == "submitted"
    m = h.contract(cid).milestones[m1]
    assert (m.status, m.held) == ("submitted", usd(40_000))
    assert m.auto_approve_at == h.now + timedelta(days=14)


@pytest.mark.parametrize("amount", [0, 50_001])
def test_refund_amount_must_be_within_escrow(h, amount):
    cid, m1 = funded(h)
    c = h.contract(cid)
    refused(ValidationError, lambda: c.request_refund("r", m1, CLIENT, h.now, usd(amount)), c)


def test_refund_response_window_t_minus_one_refused_t_and_after_refunds(h):
    cid, m1 = funded(h)
    c = h.contract(cid)
    c.request_refund("r-1", m1, CLIENT, h.now)
    h.commit(c)
    deadline = h.due("refund.response_due", refund_id="r-1")
    assert deadline.due_at == h.now + timedelta(days=7)
    h.at(deadline.due_at - SECOND)
    with pytest.raises(Conflict):
        h.fire(deadline)
    h.at(deadline.due_at)
    events = h.fire(deadline)
    assert events[0].data["how"] == "expired"
    h.at(deadline.due_at + SECOND)
    assert h.fire(deadline) == []


def test_auto_approve_while_a_refund_is_requested_is_a_no_op(h):
    cid, m1 = submitted(h)
    deadline = h.due("milestone.auto_approve", milestone_id=m1)
    c = h.contract(cid)
    c.request_refund("r-1", m1, CLIENT, h.now)
    h.commit(c)
    h.at(deadline.due_at)
    assert h.fire(deadline) == []


def test_a_stale_read_loses_to_the_command_that_committed_first(h):
    """Two commands loaded the same version; the second append is a concurrency error."""
    cid, m1 = submitted(h)
    first, second = h.contract(cid), h.contract(cid)
    fw = h.wallet(FREELANCER)
    first.approve_milestone(m1, CLIENT, h.now, fw)
    h.commit(first, fw)
    second.request_refund("r-1", m1, CLIENT, h.now)
    with pytest.raises(Conflict):
        h.commit(second)
    assert h.contract(cid).milestones[m1].status == "released"


# -- ending -----------------------------------------------------------------------------------


def test_client_ends_the_contract_and_refund_requests_follow(h):
    cid, m1 = funded(h)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    c.end_contract(CLIENT, "project cancelled", h.now, cw)
    events = h.commit(c, cw)
    assert types(events) == ["ContractEnded", "RefundRequested"]
    assert events[1].data["milestone_id"] == m1
    assert events[1].data["amount"]["amount"] == 50_000


def test_freelancer_ending_refunds_unreleased_escrow_at_once(h):
    cid, m1 = funded(h)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    c.end_contract(FREELANCER, "cannot continue", h.now, cw)
    events = h.commit(c, cw)
    assert types(events) == ["ContractEnded", "EscrowRefunded", "ClientFundsCredited"]
    assert h.ledger.balance(f"contract_escrow:{cid}", "USD") == 0


def test_ending_rules(h):
    cid, m1 = funded(h)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    refused(Forbidden, lambda: c.end_contract(STRANGER, "x", h.now, cw), c, cw)
    c.end_contract(CLIENT, "done", h.now, cw)
    h.commit(c, cw)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    refused(Conflict, lambda: c.end_contract(CLIENT, "again", h.now, cw), c, cw)
    refused(Conflict, lambda: c.add_milestone("m9", "x", usd(900), CLIENT, h.now), c)
    refused(Conflict, lambda: c.fund_milestone(m1, CLIENT, h.now, cw), c, cw)


def test_fixed_contracts_cannot_be_paused(h):
    cid, _, _ = opened(h)
    c = h.contract(cid)
    refused(Conflict, lambda: c.pause_contract(CLIENT, "x", h.now), c)


# -- bonuses ----------------------------------------------------------------------------------


def test_client_pays_a_bonus(h):
    h.fees = FeeSchedule(1000, 200)
    cid, _, _ = opened(h)
    c, cw, fw = h.contract(cid), h.wallet(CLIENT), h.wallet(FREELANCER)
    c.pay_bonus("b-1", usd(10_000), "great work", CLIENT, h.now, cw, fw)
    events = h.commit(c, cw, fw)
    assert types(events) == ["BonusPaid", "ClientFundsDebited", "EarningsPending"]
    assert h.wallet(CLIENT).balance == usd(100_000 - 10_200)
    assert h.ledger.balance("platform_fees", "USD") == 1_000 + 200


def test_bonus_rules(h):
    cid, _, _ = opened(h, deposit=5_000)
    c, cw, fw = h.contract(cid), h.wallet(CLIENT), h.wallet(FREELANCER)
    refused(Forbidden, lambda: c.pay_bonus("b", usd(100), "", FREELANCER, h.now, cw, fw), c, cw, fw)
    refused(ValidationError, lambda: c.pay_bonus("b", usd(0), "", CLIENT, h.now, cw, fw), c, cw, fw)
    refused(Conflict, lambda: c.pay_bonus("b", usd(5_001), "", CLIENT, h.now, cw, fw), c, cw, fw)
    c.pay_bonus("b", usd(5_000), "", CLIENT, h.now, cw, fw)
    h.commit(c, cw, fw)
    c, cw, fw = h.contract(cid), h.wallet(CLIENT), h.wallet(FREELANCER)
    refused(Conflict, lambda: c.pay_bonus("b", usd(1), "", CLIENT, h.now, cw, fw), c, cw, fw)


def test_unknown_contract_is_not_found(h):
    c = h.contract("missing")
    refused(NotFound, lambda: c.submit_work("m", "x", FREELANCER, h.now), c)
