"""Reactions to jobs' events, validated by their schemas first as the consumer will."""

from __future__ import annotations

from datetime import timedelta

from services.bidding import policies
from services.bidding.domain import Actor, apply_refunds
from services.bidding.listing import JobListing
from services.bidding.schemas import CONSUMED_EVENT_SCHEMAS
from shared.schemas import load

from .builders import SETTINGS, T0, replay, submitted


def event(type_: str, **data) -> dict:
    return load(CONSUMED_EVENT_SCHEMAS[type_](), data)


PUBLISHED = dict(
    job_id="job-1",
    client_id="client-1",
    title="Build a bidding service",
    visibility="public",
    budget={"kind": "fixed", "amount": {"amount": 300_00, "currency": "USD"}},
    screening_questions=[{"id": "q1", "text": "Why you?"}],
    invited_freelancer_ids=["fl-7"],
    published_at=T0.isoformat(),
)


def test_published_job_is_listed_with_the_events_own_time():
    listing = JobListing("job-1")
    recorded = policies.on_job_published(listing, event("JobPublished", **PUBLISHED), SETTINGS)
    assert recorded.data["budget"] == {
        "kind": "fixed",
        "amount": {"amount": 300_00, "currency": "USD"},
        "min_rate": None,
        "max_rate": None,
    }
    assert recorded.data["listed_at"] == T0.isoformat()
    listing = replay(listing)
    assert policies.on_job_published(listing, event("JobPublished", **PUBLISHED), SETTINGS) is None


def test_update_invite_and_close():
    listing = JobListing("job-1")
    policies.on_job_published(listing, event("JobPublished", **PUBLISHED), SETTINGS)
    listing = replay(listing)
    updated = {k: v for k, v in PUBLISHED.items() if k not in ("invited_freelancer_ids",)}
    updated.pop("published_at")
    updated["title"] = "Changed"
    policies.on_job_updated(listing, event("JobUpdated", **updated, updated_at=T0.isoformat()))
    invited = dict(job_id="job-1", client_id="client-1", freelancer_id="fl-1")
    policies.on_freelancer_invited(
        listing, event("FreelancerInvited", **invited, invited_at=T0.isoformat())
    )
    listing = replay(listing)
    assert listing.title == "Changed" and "fl-1" in listing.invited

    closed = event("JobClosed", job_id="job-1", outcome="cancelled", closed_at=T0.isoformat())
    freelancer = Actor("fl-2", frozenset({"freelancer"}))
    answers = [{"question_id": "q1", "answer": "Because."}]
    listing, wallet, _ = submitted(listing, actor=freelancer, answers=answers)
    refunds, pending = policies.on_job_closed(listing, closed, SETTINGS)
    assert len(refunds) == 2 and pending == []
    wallets = {"fl-2": wallet}
    assert [e.data["connects"] for e in apply_refunds(wallets, refunds, T0)] == [4]
    listing = replay(listing)
    # Delivered twice: nothing more to do, nothing refunded again.
    assert policies.on_job_closed(listing, closed, SETTINGS) == ([], [])
    # An edit after the close is ignored.
    later = T0 + timedelta(days=1)
    assert (
        policies.on_job_updated(
            listing, event("JobUpdated", **updated, updated_at=later.isoformat())
        )
        is None
    )


def test_closing_a_job_bidding_never_listed_does_nothing():
    closed = event("JobClosed", job_id="job-9", outcome="cancelled", closed_at=T0.isoformat())
    assert policies.on_job_closed(JobListing("job-9"), closed, SETTINGS) == ([], [])
