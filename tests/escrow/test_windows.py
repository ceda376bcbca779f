"""Every window through the timer entrypoint, at T-1 s, T and T+1 s, by moving the manual
clock: auto-approve (14 days), the refund response (7 days), the hourly invoice (Monday
12:00 UTC), the review (until Friday 23:59:59 UTC) and availability (the next Wednesday)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Conflict
from tests.escrow.driver import fixed_offer, hourly_offer, usd

CLIENT, FREELANCER = "client-1", "free-1"
SECOND = timedelta(seconds=1)


def milestone_of(escrow, contract_id, index=0):
    view = escrow.client(CLIENT, "get_contract", contract_id=contract_id)
    return view["milestones"][index]


def test_auto_approve_fires_fourteen_days_after_submission(escrow):
    contract_id = escrow.open_contract(fixed_offer(amounts=(10_000,)))
    milestone_id = milestone_of(escrow, contract_id)["milestone_id"]
    escrow.fund_wallet(CLIENT, 10_000)
    escrow.client(CLIENT, "fund_milestone", contract_id=contract_id, milestone_id=milestone_id)
    escrow.freelancer(FREELANCER, "submit_work", contract_id=contract_id, milestone_id=milestone_id)
    due = escrow.clock.now() + timedelta(days=14)
    assert milestone_of(escrow, contract_id)["auto_approve_at"] == due.isoformat()

    escrow.move_to(due - SECOND)
    assert escrow.fire_deadlines() == 0
    assert milestone_of(escrow, contract_id)["status"] == "submitted"
    escrow.move_to(due)
    assert escrow.fire_deadlines() == 1
    assert milestone_of(escrow, contract_id)["status"] == "released"
    assert escrow.count("MilestoneReleased") == 1
    escrow.check()
    escrow.move_to(due + SECOND)
    assert escrow.fire_deadlines() == 0
    assert escrow.count("MilestoneReleased") == 1
    assert escrow.freelancer(FREELANCER, "wallet")["pending"] == usd(9_000)


def test_changes_requested_stop_the_clock_and_a_resubmission_restarts_it(escrow):
    contract_id = escrow.open_contract(fixed_offer(amounts=(10_000,)))
    milestone_id = milestone_of(escrow, contract_id)["milestone_id"]
    escrow.fund_wallet(CLIENT, 10_000)
    escrow.client(CLIENT, "fund_milestone", contract_id=contract_id, milestone_id=milestone_id)
    escrow.freelancer(FREELANCER, "submit_work", contract_id=contract_id, milestone_id=milestone_id)
    first_due = escrow.clock.now() + timedelta(days=14)
    escrow.advance(days=3)
    escrow.client(
        CLIENT,
        "request_changes",
        contract_id=contract_id,
        milestone_id=milestone_id,
        message="fix the header",
    )
    escrow.advance(days=2)
    escrow.freelancer(FREELANCER, "submit_work", contract_id=contract_id, milestone_id=milestone_id)
    second_due = escrow.clock.now() + timedelta(days=14)
    escrow.move_to(first_due)
    assert escrow.fire_deadlines() == 1  # the stale first clock, fired as moot
    assert milestone_of(escrow, contract_id)["status"] == "submitted"
    escrow.move_to(second_due - SECOND)
    assert escrow.fire_deadlines() == 0
    escrow.move_to(second_due)
    assert escrow.fire_deadlines() == 1
    assert milestone_of(escrow, contract_id)["status"] == "released"
    escrow.check()


def test_an_unanswered_refund_request_goes_through_after_seven_days(escrow):
    contract_id = escrow.open_contract(fixed_offer(amounts=(10_000,)))
    milestone_id = milestone_of(escrow, contract_id)["milestone_id"]
    escrow.fund_wallet(CLIENT, 10_000)
    escrow.client(CLIENT, "fund_milestone", contract_id=contract_id, milestone_id=milestone_id)
    escrow.client(
        CLIENT,
        "request_refund",
        contract_id=contract_id,
        milestone_id=milestone_id,
        amount=usd(4_000),
    )
    due = escrow.clock.now() + timedelta(days=7)
    escrow.move_to(due - SECOND)
    escrow.fire_deadlines()
    assert escrow.count("EscrowRefunded") == 0
    escrow.move_to(due)
    escrow.fire_deadlines()
    assert escrow.count("EscrowRefunded") == 1
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(4_000)
    assert milestone_of(escrow, contract_id)["held"] == usd(6_000)
    escrow.move_to(due + SECOND)
    escrow.fire_deadlines()
    assert escrow.count("EscrowRefunded") == 1
    escrow.check()


def test_an_hourly_week_is_invoiced_monday_noon_reviewed_to_friday_and_paid_wednesday(escrow):
    monday = datetime(2026, 1, 5, tzinfo=UTC)
    quiet = escrow.open_contract(hourly_offer(freelancer=FREELANCER, rate=5_000))
    disputed = escrow.open_contract(hourly_offer(freelancer="free-2", rate=5_000))
    escrow.fund_wallet(CLIENT, 100_000)
    escrow.move_to(monday + timedelta(days=1))
    for contract_id, who in ((quiet, FREELANCER), (disputed, "free-2")):
        escrow.freelancer(
            who,
            "log_time",
            contract_id=contract_id,
            start=(monday + timedelta(hours=10)).isoformat(),
            end=(monday + timedelta(hours=12)).isoformat(),
            memo="API work",
        )
    week = monday.isoformat()

    def week_of(contract_id):
        return escrow.client(CLIENT, "get_contract", contract_id=contract_id)["weeks"][0]

    invoice_at = monday + timedelta(days=7, hours=12)
    escrow.move_to(invoice_at - SECOND)
    assert escrow.fire_deadlines() == 0
    assert week_of(quiet)["status"] == "open"
    escrow.move_to(invoice_at)
    assert escrow.fire_deadlines() == 2
    assert week_of(quiet)["status"] == "in_review"
    assert week_of(quiet)["amount"] == usd(10_000)
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(80_000)
    escrow.check()
    escrow.move_to(invoice_at + SECOND)
    assert escrow.fire_deadlines() == 0
    with pytest.raises(Conflict):  # the week can no longer be edited
        escrow.freelancer(
            FREELANCER,
            "log_time",
            contract_id=quiet,
            start=(monday + timedelta(hours=14)).isoformat(),
            end=(monday + timedelta(hours=15)).isoformat(),
        )

    review_until = monday + timedelta(days=12)  # Saturday 00:00: through Friday 23:59:59
    escrow.move_to(review_until - SECOND)
    assert escrow.fire_deadlines() == 0
    opened = escrow.client(
        CLIENT,
        "open_dispute",
        contract_id=disputed,
        target_kind="week",
        target_id=week,
        reason="those hours were not worked",
    )
    escrow.move_to(review_until)
    with pytest.raises(Conflict):  # the review is over
        escrow.client(
            CLIENT,
            "open_dispute",
            contract_id=quiet,
            target_kind="week",
            target_id=week,
            reason="late",
        )
    assert escrow.fire_deadlines() == 2  # the quiet week released; the disputed one moot
    assert week_of(quiet)["status"] == "released"
    assert week_of(disputed)["status"] == "disputed"
    escrow.check()
    escrow.move_to(review_until + SECOND)
    assert escrow.fire_deadlines() == 0
    assert escrow.freelancer(FREELANCER, "wallet")["pending"] == usd(9_000)

    resolved = escrow.operator(
        "resolve_dispute",
        contract_id=disputed,
        dispute_id=opened["dispute_id"],
        refund=usd(4_000),
        release=usd(6_000),
        note="half the hours were real",
    )
    assert resolved["contract"]["weeks"][0]["refunded"] == usd(4_000)
    escrow.check()

    available_at = monday + timedelta(days=16)  # the following Wednesday 00:00
    escrow.move_to(available_at - SECOND)
    assert escrow.fire_deadlines() == 0
    assert escrow.freelancer(FREELANCER, "wallet")["available"] == usd(0)
    escrow.move_to(available_at)
    assert escrow.fire_deadlines() == 2  # the quiet week and the disputed week's release
    assert escrow.freelancer(FREELANCER, "wallet")["available"] == usd(9_000)
    assert escrow.freelancer("free-2", "wallet")["available"] == usd(5_400)
    escrow.move_to(available_at + SECOND)
    assert escrow.fire_deadlines() == 0
    escrow.check()
