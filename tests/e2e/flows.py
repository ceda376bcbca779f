"""Steps the end-to-end stories share: post a job, propose, offer, accept, and wait until
escrow has opened the contract from bidding's ``OfferAccepted``."""

from __future__ import annotations

from datetime import datetime

from services.escrow.domain import contract_id_for_offer
from shared.errors import NotFound
from tests.e2e.conftest import Marketplace, User, usd, wait_until


def job_details(title: str, budget: dict, **extra) -> dict:
    return {
        "title": title,
        "description": "A booking site for a small chain of yoga studios, with online payments.",
        "category": "web-mobile-software-dev",
        "subcategory": "web-development",
        "skills": ["python", "Django"],
        "experience_level": "intermediate",
        "project_length": "1_to_3_months",
        "budget": budget,
        "visibility": "public",
        **extra,
    }


def listed_in_bidding(rpc, job_id: str, bid: dict) -> bool:
    """bidding knows the job once jobs' ``JobPublished`` reached it (a quote costs nothing)."""
    try:
        rpc.bidding.quote_proposal(job_id=job_id, bid=bid, boost=0)
    except NotFound:
        return False
    return True


def hire(
    market: Marketplace,
    client: User,
    freelancer: User,
    *,
    job: dict,
    bid: dict,
    offer: dict,
    start: datetime,
) -> str:
    """From a published job to an open contract; returns the contract id."""
    with client.rpc() as rpc:
        job_id = rpc.jobs.create_job(publish=True, **job)["job_id"]
    with freelancer.rpc() as rpc:
        wait_until(lambda: listed_in_bidding(rpc, job_id, bid), "bidding lists the job")
        proposal_id = rpc.bidding.submit_proposal(
            job_id=job_id,
            cover_letter="I have done this kind of work many times.",
            bid=bid,
            estimated_duration="1_to_3_months",
        )["proposal_id"]
    with client.rpc() as rpc:
        offer_id = rpc.bidding.send_offer(
            job_id=job_id, proposal_id=proposal_id, start_date=start.date().isoformat(), **offer
        )["offer_id"]
    with freelancer.rpc() as rpc:
        rpc.bidding.accept_offer(offer_id=offer_id)
    contract_id = contract_id_for_offer(offer_id)
    with client.rpc() as rpc:
        wait_until(
            lambda: (
                contract_id in [c["contract_id"] for c in rpc.escrow.list_contracts()["contracts"]]
            ),
            "escrow opens the contract",
        )
        wait_until(
            lambda: rpc.jobs.get_job(job_id=job_id)["close_reason"] == "filled",
            "jobs fills the job",
        )
    return contract_id


__all__ = ["hire", "job_details", "listed_in_bidding", "usd"]
