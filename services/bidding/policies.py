"""Bidding's reactions to other services' events, as pure functions on the aggregates.

The consumer validates each event with its schema in ``schemas.CONSUMED_EVENT_SCHEMAS``,
loads the listing, calls one of these and appends what they record. Time comes from the
event itself (``published_at``, ``closed_at``...), never from the clock, so redelivering or
replaying an event decides the same way.
"""

from __future__ import annotations

from .domain import RefundDue, delist_job
from .listing import JobListing
from .settings import BiddingSettings


def budget_to_json(budget: dict) -> dict:
    """A loaded ``BudgetSchema`` (Money objects) as the plain JSON a listing records."""
    return {
        key: (value.to_dict() if hasattr(value, "to_dict") else value)
        for key, value in budget.items()
    }


def on_job_published(listing: JobListing, event: dict, settings: BiddingSettings):
    """``JobPublished``: list the job; a redelivery records nothing (returns None)."""
    return listing.list_job(
        client_id=event["client_id"],
        title=event["title"],
        visibility=event["visibility"],
        budget=budget_to_json(event["budget"]),
        screening_questions=event["screening_questions"],
        invited_freelancer_ids=event["invited_freelancer_ids"],
        now=event["published_at"],
        settings=settings,
    )


def on_job_updated(listing: JobListing, event: dict):
    """``JobUpdated``: revise the open listing. A closed or unknown job is left alone
    (returns None): edits after closing change nothing bidding decides."""
    if not listing.is_open:
        return None
    return listing.revise(
        title=event["title"],
        visibility=event["visibility"],
        budget=budget_to_json(event["budget"]),
        screening_questions=event["screening_questions"],
        now=event["updated_at"],
    )


def on_freelancer_invited(listing: JobListing, event: dict):
    """``FreelancerInvited``: the freelancer may see the job and bid on it for free."""
    return listing.invite(event["freelancer_id"], event["invited_at"])


def on_job_closed(
    listing: JobListing, event: dict, settings: BiddingSettings
) -> tuple[list[RefundDue], list[str]]:
    """``JobClosed``: delist; returns the refunds due and the pending offers to void
    (``domain.void_offer`` each). A redelivery returns nothing to do, and so does the
    close of a job bidding never saw listed (a draft that was never published)."""
    if not listing.exists:
        return [], []
    return delist_job(listing, event["outcome"], event["closed_at"], settings)
