"""The less travelled shapes of the events services exchange, all services running: an
offer sent straight to an invited freelancer (no proposal), a job with screening
questions and attachments, a client-only profile edit, an automatic approval, a dispute
refunded in full, and a contract the freelancer ends with money still held."""

from __future__ import annotations

from datetime import timedelta

from services.escrow.domain import contract_id_for_offer
from shared.errors import NotFound
from tests.e2e.conftest import START, Marketplace, usd, wait_until
from tests.e2e.flows import job_details, listed_in_bidding

AUTO, DISPUTED, HELD = 100_00, 120_00, 80_00
TOTAL = AUTO + DISPUTED + HELD


def logged(market: Marketplace, service: str, event_type: str) -> int:
    return market.scalar(service, "SELECT count(*) FROM events WHERE type = %s", (event_type,))


def test_rarer_event_shapes_are_understood(market):
    client = market.register("client", name="Rita Rare")
    freelancer = market.register("freelancer", "client", name="Otto Offered")
    operator = market.operator()

    # a client-only profile edit: jobs reads the freelancer section, which is absent
    with client.rpc() as rpc:
        rpc.identity.update_profile(
            client={"company_name": "Studio Chain Ltd", "company_size": "10_to_99"}
        )
    wait_until(
        lambda: (
            market.scalar(
                "jobs",
                "SELECT count(*) FROM processed_events WHERE consumer LIKE %s",
                ("%profile%",),
            )
            == 1
        ),
        "jobs handles the client's ProfileUpdated",
    )

    # a signed-in job with screening questions and attachments, then a direct offer
    with client.rpc() as rpc:
        job_id = rpc.jobs.create_job(
            publish=True,
            **job_details(
                "Port our studio booking app to mobile",
                {"type": "fixed", "amount": usd(TOTAL)},
                visibility="signed_in",
                screening_questions=["Which booking systems have you built?"],
                attachments=[{"file_id": "brief-1", "name": "brief.pdf"}],
                contract_to_hire=True,
            ),
        )["job_id"]
    with freelancer.rpc() as rpc:
        wait_until(lambda: listed_in_bidding(rpc, job_id, usd(TOTAL)), "bidding lists the job")
    with client.rpc() as rpc:
        rpc.jobs.invite_freelancer(job_id=job_id, freelancer_id=freelancer.user_id, message="")
        wait_until(
            lambda: logged(market, "bidding", "FreelancerInvitedToListing") == 1,
            "bidding records the invitation",
        )
        offer_id = rpc.bidding.send_offer(
            job_id=job_id,
            freelancer_id=freelancer.user_id,
            kind="fixed",
            milestones=[
                {"title": "Design", "amount": usd(AUTO)},
                {"title": "Build", "amount": usd(DISPUTED)},
                {"title": "Launch", "amount": usd(HELD)},
            ],
            start_date=START.date().isoformat(),
        )["offer_id"]
    with freelancer.rpc() as rpc:
        rpc.bidding.accept_offer(offer_id=offer_id)
    contract_id = contract_id_for_offer(offer_id)
    with client.rpc() as rpc:
        contract = wait_until(
            lambda: _contract(rpc, contract_id), "escrow opens a contract with no proposal"
        )
        assert contract["proposal_id"] is None
        wait_until(
            lambda: rpc.jobs.get_job(job_id=job_id)["close_reason"] == "filled",
            "jobs fills the job",
        )
        wait_until(
            lambda: any(r["kind"] == "contract" for r in rpc.messaging.list_rooms()["rooms"]),
            "messaging opens the contract room",
        )
    wait_until(
        lambda: logged(market, "reputation", "ContractTracked") == 1,
        "reputation tracks the contract",
    )

    market.deposit(client, operator, TOTAL)
    auto, disputed, held = (m["milestone_id"] for m in contract["milestones"])
    with client.rpc() as rpc:
        for milestone_id in (auto, disputed, held):
            rpc.escrow.fund_milestone(contract_id=contract_id, milestone_id=milestone_id)
    with freelancer.rpc() as rpc:
        rpc.escrow.submit_work(contract_id=contract_id, milestone_id=auto, message="Designs.")
    with client.rpc() as rpc:
        dispute_id = rpc.escrow.open_dispute(
            contract_id=contract_id,
            target_kind="milestone",
            target_id=disputed,
            reason="Nothing was built.",
        )["dispute_id"]
    with operator.rpc() as rpc:
        # a full refund: nothing is released, so there is no payment
        rpc.escrow.resolve_dispute(
            contract_id=contract_id, dispute_id=dispute_id, refund=usd(DISPUTED), release=usd(0)
        )

    # the client says nothing for 14 days: the submitted milestone is approved automatically
    market.clock.set(START + timedelta(days=14, hours=1))
    assert market.fire_timers()["escrow"] >= 1
    for user in (client, freelancer, operator):
        user.login()
    with freelancer.rpc() as rpc:
        view = rpc.escrow.get_contract(contract_id=contract_id)
        assert [m["status"] for m in view["milestones"]][:2] == ["released", "refunded"]
        # the freelancer ends the contract while "Launch" still holds money: refunded at once
        rpc.escrow.end_contract(contract_id=contract_id, reason="Moving on.")
    with client.rpc() as rpc:
        assert rpc.escrow.wallet()["balance"] == usd(DISPUTED + HELD)

    for service, event_type, count in (
        ("reputation", "PaymentNoted", 1),
        ("reputation", "RefundNoted", 2),  # the dispute's refund, the held milestone's
        ("reputation", "DisputeOutcomeNoted", 1),
        ("reputation", "FeedbackWindowOpened", 1),
        ("jobs", "SpendNoted", 1),
    ):
        wait_until(
            lambda service=service, event_type=event_type, count=count: (
                logged(market, service, event_type) == count
            ),
            f"{service} records {count} {event_type}",
        )
    with client.rpc() as rpc:
        wait_until(lambda: _room_read_only(rpc), "messaging makes the contract room read-only")
        stats = rpc.reputation.client_stats(client_id=client.user_id)
    assert stats["total_spent"] == [usd(AUTO)]
    market.assert_healthy()


def _contract(rpc, contract_id: str) -> dict | None:
    try:
        return rpc.escrow.get_contract(contract_id=contract_id)
    except NotFound:
        return None


def _room_read_only(rpc) -> bool:
    rooms = rpc.messaging.list_rooms()["rooms"]
    return any(r["kind"] == "contract" and r["read_only"] for r in rooms)
