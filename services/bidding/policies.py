"""Bidding's reactions to other services' events, as pure functions on the aggregates.

The consumer validates each event with its schema in ``schemas.CONSUMED_EVENT_SCHEMAS``,
loads the listing, calls one of these and appends what they record. Time comes from the
event itself (``published_at``, ``closed_at``...), never from the clock, so redelivering or
replaying an event decides the same way.
"""

from __future__ import annotations

from shared.consumers import consume

from .domain import RefundDue, delist_job
from .listing import JobListing
from .schemas import (
    JobsFreelancerInvited,
    JobsJobClosed,
    JobsJobExpired,
    JobsJobFilled,
    JobsJobPublished,
    JobsJobUpdated,
)
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


# ---- wiring: jobs' events as jobs records them, and the deadlines of bidding's windows ----


def listing_terms(details: dict) -> dict:
    """jobs' ``details`` (or the changed part of them) in the listing's terms: the budget's
    ``type`` becomes ``kind``, ``signed_in`` jobs are public to freelancers (who are always
    signed in), and screening questions get ids by position (``q1``...)."""
    terms: dict = {}
    if "title" in details:
        terms["title"] = details["title"]
    if "visibility" in details:
        terms["visibility"] = "invite_only" if details["visibility"] == "invite_only" else "public"
    if "budget" in details:
        budget = details["budget"]
        if budget["type"] == "fixed":
            terms["budget"] = {
                "kind": "fixed",
                "amount": dict(budget["amount"]),
                "min_rate": None,
                "max_rate": None,
            }
        else:
            terms["budget"] = {
                "kind": "hourly",
                "amount": None,
                "min_rate": dict(budget["min"]),
                "max_rate": dict(budget["max"]),
            }
    if "screening_questions" in details:
        terms["screening_questions"] = [
            {"id": f"q{number}", "text": text}
            for number, text in enumerate(details["screening_questions"], start=1)
        ]
    return terms


def published_as_listing(data: dict) -> dict:
    """jobs' ``JobPublished`` data as ``on_job_published`` takes it."""
    return {
        "client_id": data["client_id"],
        **listing_terms(data["details"]),
        "invited_freelancer_ids": [],
        "published_at": data["published_at"],
    }


def updated_as_revision(listing: JobListing, data: dict) -> dict:
    """jobs' ``JobUpdated`` (only the changed fields) merged over the listing's terms."""
    current = {
        "title": listing.title,
        "visibility": listing.visibility,
        "budget": listing.budget,
        "screening_questions": listing.screening_questions,
    }
    return {**current, **listing_terms(data["changes"]), "updated_at": data["updated_at"]}


def schedule_windows(uow, recorded) -> None:
    """Store the deadline of every window the just-recorded events opened: a lot's expiry,
    an offer's expiry, a job's boost auction."""
    from shared.clock import parse_time
    from shared.timers import schedule

    for event in recorded:
        data = event.data
        if event.type in ("ConnectsGranted", "ConnectsPurchased"):
            schedule(
                uow,
                f"lot-expiry:{data['freelancer_id']}:{data['lot_id']}",
                "connects_expiry",
                parse_time(data["expires_at"]),
                {"freelancer_id": data["freelancer_id"]},
            )
        elif event.type == "OfferSent":
            schedule(
                uow,
                f"offer-expiry:{data['offer_id']}",
                "offer_expiry",
                parse_time(data["expires_at"]),
                {"offer_id": data["offer_id"]},
            )
        elif event.type == "JobListed":
            schedule(
                uow,
                f"boost-auction:{data['job_id']}",
                "boost_auction",
                parse_time(data["auction_ends_at"]),
                {"job_id": data["job_id"]},
            )


def _close_listing(uow, listing: JobListing, outcome: str, closed_at, settings) -> None:
    """Delist a job, refund what the close owes, void its pending offers; one transaction."""
    from .domain import apply_refunds, void_offer
    from .offer import Offer
    from .proposal import Proposal
    from .wallet import ConnectsWallet

    refunds, pending = delist_job(listing, outcome, closed_at, settings)
    wallets = {f: uow.load(ConnectsWallet, f) for f in {r.freelancer_id for r in refunds}}
    apply_refunds(wallets, refunds, closed_at)
    touched = [listing, *wallets.values()]
    for offer_id in pending:
        offer = uow.load(Offer, offer_id)
        proposal = uow.load(Proposal, offer.proposal_id) if offer.proposal_id else None
        void_offer(offer, listing, proposal, closed_at)
        touched += [offer] + ([proposal] if proposal is not None else [])
    uow.save(*touched)


def _lock_job(uow, job_id: str) -> None:
    """Serialise a job's publication with its closing. Without it, a ``JobPublished`` and a
    ``JobFilled`` handled at once (each from its own queue) both miss the other: the close
    sees no listing and parks an early closure, the publication's transaction found no early
    closure yet, and the listing stays open for good. Taken before the listing is loaded."""
    uow.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('bidding-listing:' || %s, 0))", (job_id,)
    )


class FollowsJobs:
    """Bidding's reactions to jobs' events; mixed into the service, which declares ``store``
    and ``settings``. Each runs once per event id in one transaction (``consume``)."""

    @consume("jobs", "JobPublished", schema=JobsJobPublished)
    def list_published_job(self, uow, event):
        """List the job; apply a close that arrived before it."""
        _lock_job(uow, event.data["job_id"])
        listing = uow.load(JobListing, event.data["job_id"])
        if on_job_published(listing, published_as_listing(event.data), self.settings) is None:
            return
        schedule_windows(uow, uow.save(listing))
        early = uow.execute(
            "DELETE FROM bidding_early_closures WHERE job_id = %s RETURNING outcome, closed_at",
            (listing.id,),
        ).fetchone()
        if early is not None:
            _close_listing(uow, listing, early[0], early[1], self.settings)

    @consume("jobs", "JobUpdated", schema=JobsJobUpdated)
    def revise_listing(self, uow, event):
        listing = uow.load(JobListing, event.data["job_id"])
        if not listing.is_open:
            return
        if on_job_updated(listing, updated_as_revision(listing, event.data)) is not None:
            uow.save(listing)

    @consume("jobs", "FreelancerInvited", schema=JobsFreelancerInvited)
    def note_invitation(self, uow, event):
        """Invited freelancers see invite-only jobs and bid for free. An invitation handled
        before its job's publication raises NotFound and is retried."""
        listing = uow.load(JobListing, event.data["job_id"])
        if on_freelancer_invited(listing, event.data) is not None:
            uow.save(listing)

    def _job_closed(self, uow, job_id: str, outcome: str, closed_at) -> None:
        _lock_job(uow, job_id)
        listing = uow.load(JobListing, job_id)
        if not listing.exists:
            uow.execute(
                "INSERT INTO bidding_early_closures (job_id, outcome, closed_at)"
                " VALUES (%s, %s, %s) ON CONFLICT (job_id) DO NOTHING",
                (job_id, outcome, closed_at),
            )
            return
        _close_listing(uow, listing, outcome, closed_at, self.settings)

    @consume("jobs", "JobClosed", schema=JobsJobClosed)
    def close_listing(self, uow, event):
        """``cancelled`` refunds every proposal not withdrawn; ``no_hire`` refunds boosts
        that lost."""
        data = event.data
        self._job_closed(uow, data["job_id"], data["reason"], data["closed_at"])

    @consume("jobs", "JobExpired", schema=JobsJobExpired)
    def expire_listing(self, uow, event):
        self._job_closed(uow, event.data["job_id"], "expired", event.data["expired_at"])

    @consume("jobs", "JobFilled", schema=JobsJobFilled)
    def fill_listing(self, uow, event):
        self._job_closed(uow, event.data["job_id"], "filled", event.data["filled_at"])


def deadline_handlers(settings: BiddingSettings) -> dict:
    """The timer's handlers by deadline kind: ``handler(uow, payload, now)``."""
    from .domain import apply_refunds, close_boost_auction, expire_offer
    from .offer import Offer
    from .proposal import Proposal
    from .wallet import ConnectsWallet

    def offer_expiry(uow, payload, now):
        offer = uow.load(Offer, payload["offer_id"], must_exist=True)
        listing = uow.load(JobListing, offer.job_id)
        proposal = uow.load(Proposal, offer.proposal_id) if offer.proposal_id else None
        expire_offer(offer, listing, proposal, now)
        uow.save(offer, listing, *([proposal] if proposal is not None else []))

    def boost_auction(uow, payload, now):
        listing = uow.load(JobListing, payload["job_id"], must_exist=True)
        refunds = close_boost_auction(listing, now, settings)
        wallets = {f: uow.load(ConnectsWallet, f) for f in {r.freelancer_id for r in refunds}}
        apply_refunds(wallets, refunds, now)
        uow.save(listing, *wallets.values())

    def connects_expiry(uow, payload, now):
        wallet = uow.load(ConnectsWallet, payload["freelancer_id"], must_exist=True)
        if wallet.expire_lots(now) is not None:
            uow.save(wallet)

    return {
        "offer_expiry": offer_expiry,
        "boost_auction": boost_auction,
        "connects_expiry": connects_expiry,
    }
