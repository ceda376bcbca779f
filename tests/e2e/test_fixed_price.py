"""Hire to paid on a fixed-price job, all six services running together: every step that
crosses a service boundary travels as a real event, and at the end no service has parked
an event it could not read."""

from __future__ import annotations

from datetime import timedelta

from services.escrow.domain import contract_id_for_offer
from shared.errors import NotFound
from tests.e2e.conftest import START, wait_until
from tests.e2e.conftest import usd as money
from tests.e2e.flows import job_details, listed_in_bidding

BID = 450_00
FEE = 45_00  # the freelancer's fee: 10 % of each gross payment
DEPOSIT = 600_00
WITHDRAWAL = 300_00


def booking_job() -> dict:
    return job_details(
        "Build a booking site for yoga studios", {"type": "fixed", "amount": money(500_00)}
    )


def test_hire_to_paid_on_a_fixed_price_job(market):
    client = market.register("client", name="Cleo Client")
    freelancer = market.register("freelancer", name="Fred Freelancer")
    operator = market.operator()

    # the client pays money in through the sandbox provider
    market.deposit(client, operator, DEPOSIT)
    with client.rpc() as rpc:
        assert rpc.escrow.wallet()["balance"] == money(DEPOSIT)
        job = rpc.jobs.create_job(publish=True, **booking_job())
    job_id = job["job_id"]
    assert job["status"] == "open"

    # bidding learns of the job from jobs' JobPublished; the quote is a free probe
    with freelancer.rpc() as rpc:
        wait_until(
            lambda: listed_in_bidding(rpc, job_id, money(BID)),
            "bidding lists the job published in jobs",
        )
        found = rpc.jobs.search_jobs(keywords="yoga booking")
        assert [card["job_id"] for card in found["items"]] == [job_id]
        before = rpc.bidding.connects_balance()["balance"]
        proposal = rpc.bidding.submit_proposal(
            job_id=job_id,
            cover_letter="I built booking sites for three studio chains.",
            bid=money(BID),
            estimated_duration="1_to_3_months",
        )
        assert proposal["connects_spent"] > 0
        assert rpc.bidding.connects_balance()["balance"] == before - proposal["connects_spent"]
    proposal_id = proposal["proposal_id"]

    # jobs counts the proposal from bidding's ListingProposalEntered
    with client.rpc() as rpc:
        wait_until(
            lambda: rpc.jobs.get_job(job_id=job_id)["proposal_count"] == 1,
            "jobs counts the proposal",
        )
        # messaging the proposal opens the interview room (bidding's ProposalMessaged)
        rpc.bidding.message_proposal(proposal_id=proposal_id)
        interview = wait_until(
            lambda: _room(rpc, "interview"), "messaging opens the interview room"
        )
        assert interview["proposal_id"] == proposal_id
        assert sorted(interview["participants"]) == sorted([client.user_id, freelancer.user_id])
        rpc.messaging.send_message(room_id=interview["room_id"], body="Could you start on Monday?")
        offer = rpc.bidding.send_offer(
            job_id=job_id,
            proposal_id=proposal_id,
            kind="fixed",
            title="Booking site",
            milestones=[{"title": "The whole site", "amount": money(BID)}],
            start_date=START.date().isoformat(),
        )
    offer_id = offer["offer_id"]
    with freelancer.rpc() as rpc:
        messages = rpc.messaging.list_messages(room_id=interview["room_id"])["messages"]
        assert [m["body"] for m in messages] == ["Could you start on Monday?"]
        assert rpc.bidding.accept_offer(offer_id=offer_id)["status"] == "accepted"

    # escrow opens the contract from OfferAccepted (its id derives from the offer's)
    contract_id = contract_id_for_offer(offer_id)
    with client.rpc() as rpc:
        summaries = wait_until(
            lambda: rpc.escrow.list_contracts()["contracts"], "escrow opens the contract"
        )
        assert [s["contract_id"] for s in summaries] == [contract_id]
        # ... jobs marks the job filled, messaging opens the contract room
        wait_until(
            lambda: rpc.jobs.get_job(job_id=job_id)["status"] == "closed", "jobs fills the job"
        )
        assert rpc.jobs.get_job(job_id=job_id)["close_reason"] == "filled"
        room = wait_until(lambda: _room(rpc, "contract"), "messaging opens the contract room")
        assert room["contract_id"] == contract_id
        contract = rpc.escrow.get_contract(contract_id=contract_id)
    # the same acceptance delivered again under another event id opens nothing new
    market.redeliver("bidding", "OfferAccepted", consumer="escrow")
    assert market.scalar("escrow", "SELECT count(*) FROM events WHERE type = 'ContractOpened'") == 1
    (milestone,) = contract["milestones"]
    milestone_id = milestone["milestone_id"]
    assert milestone["amount"] == money(BID)
    target = {"contract_id": contract_id, "milestone_id": milestone_id}

    # fund, submit, request changes, resubmit, approve
    with client.rpc() as client_rpc, freelancer.rpc() as freelancer_rpc:
        client_rpc.escrow.fund_milestone(idempotency_key="fund-once", **target)
        client_rpc.escrow.fund_milestone(idempotency_key="fund-once", **target)  # a retry
        assert client_rpc.escrow.wallet()["balance"] == money(DEPOSIT - BID)
        freelancer_rpc.escrow.submit_work(message="On staging.", **target)
        client_rpc.escrow.request_changes(message="The calendar is off by a day.", **target)
        freelancer_rpc.escrow.submit_work(message="Calendar fixed.", **target)
        client_rpc.escrow.approve_milestone(**target)
        wallet = freelancer_rpc.escrow.wallet()
    assert wallet["pending"] == money(BID - FEE)
    assert wallet["available"] == money(0)
    market.assert_healthy()

    # the 5-day security period passes: escrow's timer makes the earnings available
    market.clock.set(START + timedelta(days=5, hours=1))
    assert market.fire_timers()["escrow"] >= 1
    for user in (client, freelancer, operator):
        user.login()  # the clock moved past every access token's expiry
    with freelancer.rpc() as rpc:
        wallet = rpc.escrow.wallet()
        assert (wallet["pending"], wallet["available"]) == (money(0), money(BID - FEE))
        withdrawal = rpc.escrow.withdraw(amount=money(WITHDRAWAL))
    with operator.rpc() as rpc:
        rpc.escrow.confirm_provider_payment(
            operation="withdrawal", operation_id=withdrawal["withdrawal_id"]
        )
    with freelancer.rpc() as rpc:
        assert rpc.escrow.wallet()["available"] == money(BID - FEE - WITHDRAWAL)

    # the client ends the contract: the contract room becomes read-only, feedback opens
    with client.rpc() as rpc:
        ended = rpc.escrow.end_contract(contract_id=contract_id, reason="work completed")
        assert ended["contract"]["status"] == "ended"
        wait_until(lambda: _room(rpc, "contract")["read_only"], "the contract room closes")
        wait_until(lambda: _feedback_open(rpc, contract_id), "reputation opens the feedback window")
        first = rpc.reputation.leave_feedback(
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
            comment="Excellent work, on time.",
            private_feedback={"end_reason": "work_completed", "would_recommend": 10},
        )
        assert first["status"] == "submitted"
    with freelancer.rpc() as rpc:
        # double-blind: the freelancer cannot see the client's feedback yet
        hidden = rpc.reputation.get_feedback(contract_id=contract_id)
        assert hidden["sides"]["client"].get("feedback") is None
        second = rpc.reputation.leave_feedback(
            contract_id=contract_id,
            rating=4,
            criteria={
                "clarity": 4,
                "communication": 5,
                "payment_promptness": 5,
                "cooperation": 4,
            },
            comment="Clear brief, paid promptly.",
            private_feedback={"end_reason": "work_completed", "would_recommend": 9},
        )
        assert second["status"] == "revealed"
        assert sorted(second["revealed_sides"]) == ["client", "freelancer"]
        shown = rpc.reputation.get_feedback(contract_id=contract_id)
        assert shown["sides"]["client"]["feedback"]["rating"] == 5
        assert shown["sides"]["freelancer"]["feedback"]["rating"] == 4

        score = rpc.reputation.get_score(freelancer_id=freelancer.user_id)
        assert score["counted_contracts"] == 1 and score["distinct_clients"] == 1
        assert score["score"] is None  # shown only after five contracts
        explained = rpc.reputation.explain_score(freelancer_id=freelancer.user_id)
        (entry,) = explained["contracts"]
        assert entry["contract_id"] == contract_id and entry["outcome"] == "positive"
        assert entry["earnings_points"] == BID // 100
        stats = rpc.reputation.client_stats(client_id=client.user_id)
    assert stats["jobs_posted"] == 1
    assert stats["hires"] == 1
    assert stats["hire_rate_percent"] == 100
    assert stats["total_spent"] == [money(BID)]
    assert stats["rating_received"]["count"] == 1
    assert stats["rating_received"]["average_hundredths"] == 400
    assert stats["rating_given"]["average_hundredths"] == 500

    # jobs shows the client's rating on the job, from reputation's ClientRatingUpdated
    with client.rpc() as rpc:
        shown = wait_until(
            lambda: _client_rating(rpc, job_id) == (400, 1) and rpc.jobs.get_job(job_id=job_id),
            "jobs shows the client's rating",
        )
        assert shown["client"]["hires"] == 1
        (card,) = rpc.jobs.list_my_jobs()["items"]
        assert (card["client"]["average_rating_centi"], card["client"]["rating_count"]) == (400, 1)
    assert (
        market.scalar(
            "reputation", "SELECT count(*) FROM events WHERE type = 'ClientRatingUpdated'"
        )
        == 1
    )

    # the money adds up: balances equal their ledger accounts
    assert market.ledger_balance(client, f"client_wallet:{client.user_id}") == DEPOSIT - BID
    assert market.ledger_balance(freelancer, f"freelancer_available:{freelancer.user_id}") == (
        BID - FEE - WITHDRAWAL
    )
    assert market.ledger_balance(client, f"contract_escrow:{contract_id}") == 0
    assert market.ledger_balance(operator, "platform_fees") == FEE
    assert market.ledger_balance(operator, "provider_clearing:USD") == -(DEPOSIT - WITHDRAWAL)
    market.assert_healthy()


def _client_rating(rpc, job_id: str) -> tuple:
    client = rpc.jobs.get_job(job_id=job_id)["client"]
    return client["average_rating_centi"], client["rating_count"]


def _room(rpc, kind: str) -> dict | None:
    rooms = rpc.messaging.list_rooms()["rooms"]
    return next((room for room in rooms if room["kind"] == kind), None)


def _feedback_open(rpc, contract_id: str) -> bool:
    try:
        return rpc.reputation.get_feedback(contract_id=contract_id)["ended_at"] is not None
    except NotFound:
        return False
