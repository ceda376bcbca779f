"""Every event type one service consumes from another, produced for real by its producer
and read by its consumer, all services running: profiles, payment verification,
suspension, job edits, invitations, withdrawals, cancellation refunds, expiry, bonuses,
refunds and a closed feedback window. No consumer may park any of them."""

from __future__ import annotations

from datetime import timedelta

from shared.errors import NotAuthenticated
from tests.e2e.conftest import START, Marketplace, usd, wait_until
from tests.e2e.flows import hire, job_details, listed_in_bidding

BID = usd(300_00)


def logged(market: Marketplace, service: str, event_type: str) -> int:
    """How many events of ``event_type`` the service recorded in its own log."""
    return market.scalar(service, "SELECT count(*) FROM events WHERE type = %s", (event_type,))


def wait_logged(market: Marketplace, service: str, event_type: str, count: int = 1) -> None:
    wait_until(
        lambda: logged(market, service, event_type) == count,
        f"{service} records {count} {event_type}",
    )


def fixed_job(title: str) -> dict:
    return job_details(title, {"type": "fixed", "amount": BID})


def test_every_consumed_event_is_understood(market):
    client = market.register("client", name="Carla Client")
    freelancer = market.register("freelancer", name="Felix Freelancer")
    invitee = market.register("freelancer", name="Ines Invited")
    operator = market.operator()

    # identity's ProfileUpdated (jobs' best matches) and PaymentMethodVerified
    with freelancer.rpc() as rpc:
        rpc.identity.update_profile(
            freelancer={
                "title": "Django developer",
                "skills": ["Python", "Django"],
                "hourly_rate": usd(40_00),
            }
        )
    with operator.rpc() as rpc:
        rpc.identity.verify_payment_method(user_id=client.user_id, provider_reference="pm-4242")
    wait_logged(market, "jobs", "FreelancerProfileNoted")
    wait_logged(market, "jobs", "PaymentVerificationNoted")
    wait_logged(market, "reputation", "PaymentVerificationNoted")

    # jobs' JobUpdated and FreelancerInvited reach bidding's listing
    with client.rpc() as rpc:
        open_job = rpc.jobs.create_job(publish=True, **fixed_job("Build a studio booking site"))
        open_id = open_job["job_id"]
        cancelled_id = rpc.jobs.create_job(
            publish=True, **fixed_job("Build a class timetable widget")
        )["job_id"]
    with freelancer.rpc() as rpc:
        wait_until(lambda: listed_in_bidding(rpc, open_id, BID), "bidding lists the job")
        wait_until(lambda: listed_in_bidding(rpc, cancelled_id, BID), "bidding lists the job")
        matches = rpc.jobs.recommend_jobs(limit=10)
        assert {m["job_id"] for m in matches} == {open_id, cancelled_id}
    with client.rpc() as rpc:
        rpc.jobs.update_job(job_id=open_id, changes={"title": "Build a yoga studio booking site"})
        rpc.jobs.invite_freelancer(
            job_id=open_id, freelancer_id=invitee.user_id, message="Your profile fits."
        )
        assert rpc.jobs.get_job(job_id=open_id)["client"]["payment_verified"] is True
    wait_logged(market, "bidding", "JobListingRevised")
    wait_logged(market, "bidding", "FreelancerInvitedToListing")

    # bidding's ListingProposalEntered / ListingProposalWithdrawn move jobs' counts
    with freelancer.rpc() as rpc:
        balance = rpc.bidding.connects_balance()["balance"]
        withdrawn = rpc.bidding.submit_proposal(
            job_id=open_id,
            cover_letter="Happy to help.",
            bid=BID,
            estimated_duration="1_to_3_months",
        )
        rpc.bidding.withdraw_proposal(proposal_id=withdrawn["proposal_id"], reason="scope_changed")
        refunded = rpc.bidding.submit_proposal(
            job_id=cancelled_id,
            cover_letter="Happy to help.",
            bid=BID,
            estimated_duration="less_than_1_month",
        )
        spent = withdrawn["connects_spent"] + refunded["connects_spent"]
        assert rpc.bidding.connects_balance()["balance"] == balance - spent
    with invitee.rpc() as rpc:
        invited = rpc.bidding.submit_proposal(
            job_id=open_id,
            cover_letter="Thanks for the invitation.",
            bid=BID,
            estimated_duration="1_to_3_months",
        )
        assert invited["connects_spent"] == 0  # invited freelancers bid for free
    wait_logged(market, "jobs", "JobProposalWithdrawn")
    with client.rpc() as rpc:
        wait_until(
            lambda: rpc.jobs.get_job(job_id=open_id)["proposal_count"] == 1,
            "jobs counts one live proposal",
        )
        # jobs' JobClosed (cancelled): bidding delists the job and refunds the connects
        rpc.jobs.close_job(job_id=cancelled_id, reason="cancelled", note="Plans changed.")
    with freelancer.rpc() as rpc:
        wait_until(
            lambda: (
                rpc.bidding.connects_balance()["balance"] == balance - withdrawn["connects_spent"]
            ),
            "bidding refunds the cancelled job's connects",
        )

    # identity's UserSuspended / UserReinstated reach every service
    with operator.rpc() as rpc:
        rpc.identity.suspend(user_id=invitee.user_id, reason="Chargeback investigation.")
    with invitee.rpc() as rpc:
        for refused in (
            lambda: rpc.bidding.connects_balance(),
            lambda: rpc.escrow.wallet(),
            lambda: rpc.messaging.list_rooms(),
            lambda: rpc.jobs.list_saved_searches(),
            lambda: rpc.reputation.get_score(freelancer_id=invitee.user_id),
        ):
            wait_until(lambda refused=refused: _refused(refused), "a suspended token is refused")
    with operator.rpc() as rpc:
        rpc.identity.reinstate(user_id=invitee.user_id, reason="Cleared.")
    wait_logged(market, "reputation", "MemberReinstated")
    invitee.login()
    with invitee.rpc() as rpc:
        wait_until(lambda: not _refused(lambda: rpc.bidding.connects_balance()), "reinstated")
        wait_until(lambda: not _refused(lambda: rpc.escrow.wallet()), "reinstated")

    # escrow's BonusPaid, EscrowRefunded, MilestoneReleased and ContractEnded
    contract_id = hire(
        market,
        client,
        freelancer,
        job=fixed_job("Add online payments to our booking site"),
        bid=BID,
        offer={"kind": "fixed", "milestones": [{"title": "Payments", "amount": BID}]},
        start=START,
    )
    market.deposit(client, operator, 1_000_00)
    with client.rpc() as rpc:
        (milestone,) = rpc.escrow.get_contract(contract_id=contract_id)["milestones"]
        target = {"contract_id": contract_id, "milestone_id": milestone["milestone_id"]}
        rpc.escrow.fund_milestone(**target)
        rpc.escrow.pay_bonus(contract_id=contract_id, amount=usd(50_00), reason="Fast work.")
        refund = rpc.escrow.request_refund(amount=usd(100_00), reason="Smaller scope.", **target)
    with freelancer.rpc() as rpc:
        rpc.escrow.accept_refund(contract_id=contract_id, refund_id=refund["refund_id"])
    with client.rpc() as rpc:
        rpc.escrow.approve_milestone(**target)
    with freelancer.rpc() as rpc:
        rpc.escrow.end_contract(contract_id=contract_id, reason="Delivered.")
    wait_logged(market, "reputation", "RefundNoted")
    wait_logged(market, "reputation", "PaymentNoted", 2)
    wait_logged(market, "reputation", "FeedbackWindowOpened")
    wait_logged(market, "jobs", "SpendNoted", 2)
    with client.rpc() as rpc:
        stats = rpc.reputation.client_stats(client_id=client.user_id)
        assert stats["total_spent"] == [usd(50_00 + 200_00)]
        assert stats["payment_verified"] is True
        assert stats["jobs_posted"] == 3

    # a month on, the timers expire the open job (bidding delists it) and close the
    # feedback window nobody used
    market.clock.set(START + timedelta(days=31))
    fired = market.fire_timers()
    assert fired["jobs"] >= 1 and fired["reputation"] >= 1
    wait_logged(market, "bidding", "JobDelisted", 3)  # cancelled, filled, expired
    assert logged(market, "jobs", "JobExpired") == 1
    assert logged(market, "reputation", "FeedbackWindowClosed") == 1
    market.assert_healthy()


def _refused(call) -> bool:
    try:
        call()
    except NotAuthenticated:
        return True
    return False
