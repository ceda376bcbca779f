"""Bidding's copy of a job: who may bid, the register of proposals, offers, the boost auction.

Stream ``listing-<job_id>``. The jobs service owns jobs; bidding learns of them only from
jobs' events and records what it needs here, because this stream is also the consistency
boundary for rules that span one job: one live proposal per freelancer, one pending offer
per freelancer, and the ranking of boosts. Every proposal and every offer on the job
appends to this stream, so two concurrent submissions by one freelancer collide on the
stream version and exactly one is written.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.clock import iso, parse_time
from shared.domain import Aggregate
from shared.errors import Conflict, NotFound

from .settings import BiddingSettings

CLOSE_OUTCOMES = ("filled", "no_hire", "cancelled", "expired", "removed")
VISIBILITIES = ("public", "invite_only")


class JobListing(Aggregate):
    """A job as bidding sees it; the aggregate id is the job id."""

    stream_prefix = "listing"

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "unlisted"  # -> open -> closed
        self.client_id = ""
        self.title = ""
        self.visibility = "public"
        self.budget: dict | None = None
        self.screening_questions: list[dict] = []
        self.invited: set[str] = set()
        self.listed_at: datetime | None = None
        self.auction_ends_at: datetime | None = None
        self.auction_closed = False
        self.auction_winners: list[str] = []
        self.outcome: str | None = None
        self.refunds_connects = False
        # proposal_id -> {freelancer_id, boost, spend_id, invited, entered_at, live, seq}
        self.proposals: dict[str, dict] = {}
        self.live_by_freelancer: dict[str, str] = {}
        self.pending_offers: dict[str, str] = {}  # freelancer_id -> offer_id
        self.hired: set[str] = set()

    # ---- queries ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def kind(self) -> str | None:
        return self.budget["kind"] if self.budget else None

    def currency(self) -> str | None:
        if not self.budget:
            return None
        money = self.budget.get("amount") or self.budget.get("max_rate")
        money = money or self.budget.get("min_rate")
        return money["currency"] if money else None

    def visible_to(self, freelancer_id: str) -> bool:
        """Whether a freelancer may see (and so bid on) this job."""
        if not self.exists:
            return False
        return self.visibility == "public" or freelancer_id in self.invited

    def auction_open(self, now: datetime) -> bool:
        """Boosts are taken while the job is open and ``now < auction_ends_at``."""
        return (
            self.is_open
            and not self.auction_closed
            and self.auction_ends_at is not None
            and now < self.auction_ends_at
        )

    def boost_ranking(self) -> list[str]:
        """Live boosted proposals, highest boost first, earlier entry winning a tie."""
        boosted = [(pid, p) for pid, p in self.proposals.items() if p["live"] and p["boost"] > 0]
        boosted.sort(key=lambda item: (-item[1]["boost"], item[1]["seq"]))
        return [pid for pid, _ in boosted]

    def pinned(self, slots: int) -> list[str]:
        """Proposal ids pinned first for the client: the auction's winners once it closed,
        else the current top of the ranking."""
        if self.auction_closed:
            return [pid for pid in self.auction_winners if self.proposals[pid]["live"]]
        return self.boost_ranking()[:slots]

    def refundable_proposals(self) -> list[dict]:
        """Proposals whose connects come back when this job closed with a refund outcome:
        every proposal not withdrawn (withdrawal forfeits its connects)."""
        if not self.refunds_connects:
            return []
        return [
            {"proposal_id": pid, **p}
            for pid, p in self.proposals.items()
            if not p["withdrawn"] and p["spend_id"]
        ]

    # ---- commands from jobs' events ----------------------------------------------------

    def list_job(
        self,
        client_id: str,
        title: str,
        visibility: str,
        budget: dict | None,
        screening_questions: list[dict],
        invited_freelancer_ids: list[str],
        now: datetime,
        settings: BiddingSettings,
    ):
        """The job was published: open it for proposals and start the boost auction.

        A redelivered publication of a listed job does nothing (returns None).
        """
        if self.exists:
            return None
        if visibility not in VISIBILITIES:
            raise Conflict(f"unknown job visibility {visibility!r}")
        days = settings.boost_auction_days
        return self.record(
            "JobListed",
            job_id=self.id,
            client_id=client_id,
            title=title,
            visibility=visibility,
            budget=budget,
            screening_questions=[dict(q) for q in screening_questions],
            invited_freelancer_ids=sorted(set(invited_freelancer_ids)),
            listed_at=iso(now),
            auction_days=days,
            auction_ends_at=iso(now + timedelta(days=days)),
        )

    def revise(
        self,
        title: str,
        visibility: str,
        budget: dict | None,
        screening_questions: list[dict],
        now: datetime,
    ):
        """The open job was edited. Proposals already in keep the answers they gave."""
        self._require_open()
        if visibility not in VISIBILITIES:
            raise Conflict(f"unknown job visibility {visibility!r}")
        return self.record(
            "JobListingRevised",
            job_id=self.id,
            title=title,
            visibility=visibility,
            budget=budget,
            screening_questions=[dict(q) for q in screening_questions],
            revised_at=iso(now),
        )

    def invite(self, freelancer_id: str, now: datetime):
        """The client invited a freelancer; None if already invited."""
        self._require_listed()
        if freelancer_id in self.invited:
            return None
        return self.record(
            "FreelancerInvitedToListing",
            job_id=self.id,
            freelancer_id=freelancer_id,
            invited_at=iso(now),
        )

    def delist(self, outcome: str, now: datetime, settings: BiddingSettings):
        """The job closed. Closes the boost auction if still running; records whether the
        proposals' connects are refunded (a refund outcome and nobody hired).

        Returns the events recorded; a redelivered close records nothing.
        """
        self._require_listed()
        if outcome not in CLOSE_OUTCOMES:
            raise Conflict(f"unknown close outcome {outcome!r}")
        if self.status == "closed":
            return []
        events = []
        if not self.auction_closed:
            events.append(self._close_auction(now, "job_closed", settings))
        refunds = outcome in settings.refund_outcomes and not self.hired
        events.append(
            self.record(
                "JobDelisted",
                job_id=self.id,
                outcome=outcome,
                refunds_connects=refunds,
                refund_outcomes=sorted(settings.refund_outcomes),
                closed_at=iso(now),
            )
        )
        return events

    def close_boost_auction(self, now: datetime, settings: BiddingSettings):
        """The auction window is over: fix the winners; the losers' boosts are refunded.

        Allowed from ``auction_ends_at`` on (not a second before).
        """
        self._require_listed()
        if self.auction_closed:
            raise Conflict("the boost auction of this job is already closed")
        if now < self.auction_ends_at:
            raise Conflict(f"the boost auction runs until {iso(self.auction_ends_at)}")
        return self._close_auction(now, "window_ended", settings)

    def _close_auction(self, now: datetime, reason: str, settings: BiddingSettings):
        ranking = self.boost_ranking()
        winners = ranking[: settings.pinned_slots]
        losers = [
            {
                "proposal_id": pid,
                "freelancer_id": self.proposals[pid]["freelancer_id"],
                "spend_id": self.proposals[pid]["spend_id"],
                "boost": self.proposals[pid]["boost"],
            }
            for pid in ranking[settings.pinned_slots :]
        ]
        return self.record(
            "BoostAuctionClosed",
            job_id=self.id,
            reason=reason,
            pinned_slots=settings.pinned_slots,
            winners=winners,
            losers=losers,
            closed_at=iso(now),
        )

    # ---- commands from bidding's own flows ---------------------------------------------

    def enter_proposal(
        self,
        proposal_id: str,
        freelancer_id: str,
        boost: int,
        spend_id: str | None,
        invited: bool,
        now: datetime,
    ):
        """Register a proposal; refuses a second live one by the same freelancer."""
        self._require_open()
        if freelancer_id in self.live_by_freelancer:
            raise Conflict("you already have a live proposal on this job")
        if boost > 0 and not self.auction_open(now):
            raise Conflict("the boost auction of this job has closed; submit without a boost")
        return self.record(
            "ListingProposalEntered",
            job_id=self.id,
            proposal_id=proposal_id,
            freelancer_id=freelancer_id,
            boost=boost,
            spend_id=spend_id,
            invited=invited,
            entered_at=iso(now),
        )

    def withdraw_proposal(self, proposal_id: str, now: datetime):
        """A proposal was withdrawn: it leaves the ranking and frees the freelancer's slot."""
        entry = self._entry(proposal_id)
        if not entry["live"]:
            raise Conflict("this proposal is no longer live")
        return self.record(
            "ListingProposalWithdrawn",
            job_id=self.id,
            proposal_id=proposal_id,
            freelancer_id=entry["freelancer_id"],
            withdrawn_at=iso(now),
        )

    def open_offer(self, offer_id: str, freelancer_id: str, now: datetime):
        """Register a pending offer; one per freelancer at a time, none to a hired one."""
        self._require_open()
        if freelancer_id in self.hired:
            raise Conflict("this freelancer is already hired on this job")
        if freelancer_id in self.pending_offers:
            raise Conflict("this freelancer already has a pending offer on this job")
        return self.record(
            "ListingOfferOpened",
            job_id=self.id,
            offer_id=offer_id,
            freelancer_id=freelancer_id,
            opened_at=iso(now),
        )

    def settle_offer(self, offer_id: str, freelancer_id: str, outcome: str, now: datetime):
        """A pending offer ended (accepted, declined, withdrawn or expired)."""
        if self.pending_offers.get(freelancer_id) != offer_id:
            raise Conflict(f"offer {offer_id} is not pending on this job")
        return self.record(
            "ListingOfferSettled",
            job_id=self.id,
            offer_id=offer_id,
            freelancer_id=freelancer_id,
            outcome=outcome,
            settled_at=iso(now),
        )

    def _require_listed(self) -> None:
        if not self.exists:
            raise NotFound(f"job {self.id} is not open for proposals")

    def _require_open(self) -> None:
        self._require_listed()
        if not self.is_open:
            raise Conflict("this job is closed")

    def _entry(self, proposal_id: str) -> dict:
        if proposal_id not in self.proposals:
            raise NotFound(f"proposal {proposal_id} is not on job {self.id}")
        return self.proposals[proposal_id]

    # ---- apply -----------------------------------------------------------------------

    def on_JobListed(self, data: dict) -> None:
        self.status = "open"
        self.client_id = data["client_id"]
        self.title = data["title"]
        self.visibility = data["visibility"]
        self.budget = data["budget"]
        self.screening_questions = data["screening_questions"]
        self.invited = set(data["invited_freelancer_ids"])
        self.listed_at = parse_time(data["listed_at"])
        self.auction_ends_at = parse_time(data["auction_ends_at"])

    def on_JobListingRevised(self, data: dict) -> None:
        self.title = data["title"]
        self.visibility = data["visibility"]
        self.budget = data["budget"]
        self.screening_questions = data["screening_questions"]

    def on_FreelancerInvitedToListing(self, data: dict) -> None:
        self.invited.add(data["freelancer_id"])

    def on_JobDelisted(self, data: dict) -> None:
        self.status = "closed"
        self.outcome = data["outcome"]
        self.refunds_connects = data["refunds_connects"]

    def on_BoostAuctionClosed(self, data: dict) -> None:
        self.auction_closed = True
        self.auction_winners = list(data["winners"])

    def on_ListingProposalEntered(self, data: dict) -> None:
        self.proposals[data["proposal_id"]] = {
            "freelancer_id": data["freelancer_id"],
            "boost": data["boost"],
            "spend_id": data["spend_id"],
            "invited": data["invited"],
            "entered_at": data["entered_at"],
            "live": True,
            "withdrawn": False,
            "seq": len(self.proposals),
        }
        self.live_by_freelancer[data["freelancer_id"]] = data["proposal_id"]

    def on_ListingProposalWithdrawn(self, data: dict) -> None:
        entry = self.proposals[data["proposal_id"]]
        entry["live"] = False
        entry["withdrawn"] = True
        self.live_by_freelancer.pop(data["freelancer_id"], None)

    def on_ListingOfferOpened(self, data: dict) -> None:
        self.pending_offers[data["freelancer_id"]] = data["offer_id"]

    def on_ListingOfferSettled(self, data: dict) -> None:
        self.pending_offers.pop(data["freelancer_id"], None)
        if data["outcome"] == "accepted":
            self.hired.add(data["freelancer_id"])
