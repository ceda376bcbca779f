"""Givens for bidding's unit tests: fixed times, actors, and aggregates built from events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services.bidding.domain import Actor, submit_proposal
from services.bidding.listing import JobListing
from services.bidding.proposal import Proposal
from services.bidding.settings import BiddingSettings
from services.bidding.wallet import ConnectsWallet
from shared.money import Money

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
SETTINGS = BiddingSettings()

CLIENT = Actor("client-1", frozenset({"client"}))
FREELANCER = Actor("fl-1", frozenset({"freelancer"}))
OTHER_FREELANCER = Actor("fl-2", frozenset({"freelancer"}))
QUESTIONS = [
    {"id": "q1", "text": "Have you built a marketplace before?"},
    {"id": "q2", "text": "Which time zone are you in?"},
]


@dataclass
class StoredEvent:
    type: str
    data: dict
    version: int


def replay(agg):
    """The aggregate as a later command would load it: its pending events stored, then
    folded into a fresh instance (so every test also exercises the apply methods)."""
    events = [
        StoredEvent(e.type, e.data, agg.loaded_version + i + 1)
        for i, e in enumerate(agg.take_pending())
    ]
    previous = getattr(agg, "_stored", [])
    fresh = type(agg).rehydrate(agg.id, previous + events)
    fresh._stored = previous + events
    return fresh


def types(agg) -> list[str]:
    """Types of the events a command just recorded."""
    return [e.type for e in agg.pending]


def usd(amount: int) -> Money:
    return Money(amount, "USD")


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def fixed_budget(amount: int = 300_00, currency: str = "USD") -> dict:
    return {"kind": "fixed", "amount": {"amount": amount, "currency": currency}}


def hourly_budget(low: int | None = 20_00, high: int | None = 40_00) -> dict:
    def rate(value):
        return None if value is None else {"amount": value, "currency": "USD"}

    return {"kind": "hourly", "min_rate": rate(low), "max_rate": rate(high)}


def listed_job(
    job_id: str = "job-1",
    budget: dict | None = None,
    questions: list[dict] | None = None,
    invited: list[str] = (),
    visibility: str = "public",
    now: datetime = T0,
    settings: BiddingSettings = SETTINGS,
) -> JobListing:
    listing = JobListing(job_id)
    listing.list_job(
        client_id=CLIENT.user_id,
        title="Build a bidding service",
        visibility=visibility,
        budget=budget if budget is not None else fixed_budget(),
        screening_questions=QUESTIONS if questions is None else questions,
        invited_freelancer_ids=list(invited),
        now=now,
        settings=settings,
    )
    return replay(listing)


def funded_wallet(freelancer_id: str = "fl-1", now: datetime = T0, connects: int = 10):
    wallet = ConnectsWallet(freelancer_id)
    wallet.grant_monthly_allotment(now, BiddingSettings(monthly_free_connects=connects))
    return replay(wallet)


def proposal_form(**overrides) -> dict:
    form = {
        "job_id": "job-1",
        "cover_letter": "I have built three marketplaces.",
        "bid": usd(300_00),
        "milestones": [],
        "estimated_duration": "1_to_3_months",
        "answers": [
            {"question_id": "q1", "answer": "Yes, twice."},
            {"question_id": "q2", "answer": "UTC+1"},
        ],
        "attachments": [],
        "boost": 0,
    }
    form.update(overrides)
    return form


def milestone(title: str, amount: int, due: date | None = None) -> dict:
    return {"title": title, "amount": usd(amount), "due_date": due}


def submitted(
    listing: JobListing,
    actor: Actor = FREELANCER,
    proposal_id: str = "prop-1",
    now: datetime = T0,
    wallet: ConnectsWallet | None = None,
    **overrides,
):
    """Submit a proposal and return (listing, wallet, proposal) as stored afterwards."""
    wallet = wallet or funded_wallet(actor.user_id, now, connects=100)
    proposal = Proposal(proposal_id)
    submit_proposal(listing, wallet, proposal, actor, proposal_form(**overrides), now, SETTINGS)
    return replay(listing), replay(wallet), replay(proposal)
