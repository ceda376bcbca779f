"""Offers: given a job and a proposal, when the client offers and the freelancer answers..."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.bidding.domain import (
    Actor,
    accept_offer,
    decline_offer,
    delist_job,
    expire_offer,
    send_offer,
    void_offer,
    withdraw_offer,
    withdraw_proposal,
)
from services.bidding.offer import Offer
from services.bidding.proposal import Proposal
from shared.errors import Conflict, Forbidden, NotFound, ValidationError

from .builders import (
    CLIENT,
    FREELANCER,
    OTHER_FREELANCER,
    SECOND,
    SETTINGS,
    T0,
    eur,
    hourly_budget,
    listed_job,
    milestone,
    replay,
    submitted,
    types,
    usd,
)

EXPIRY = T0 + timedelta(days=30)
START = (T0 + timedelta(days=3)).date()


def fixed_terms(**overrides) -> dict:
    form = {
        "job_id": "job-1",
        "proposal_id": "prop-1",
        "freelancer_id": None,
        "kind": "fixed",
        "title": None,
        "milestones": [
            milestone("Design", 100_00, START + timedelta(days=7)),
            milestone("Build", 200_00, None),
        ],
        "hourly_rate": None,
        "weekly_limit_hours": None,
        "manual_time_allowed": None,
        "start_date": START,
        "message": "Welcome aboard",
    }
    form.update(overrides)
    return form


def hourly_terms(**overrides) -> dict:
    terms = {
        "kind": "hourly",
        "milestones": [],
        "hourly_rate": usd(45_00),
        "weekly_limit_hours": 20,
        "manual_time_allowed": True,
    }
    return fixed_terms(**{**terms, **overrides})


def offered(form=None, listing=None, now=T0):
    """A listing with fl-1's proposal and an offer sent on it, all as stored."""
    listing, _, proposal = submitted(listing or listed_job())
    offer = Offer("offer-1")
    send_offer(listing, proposal, offer, CLIENT, form or fixed_terms(), now, SETTINGS)
    return replay(listing), replay(proposal), replay(offer)


# ---- sending -----------------------------------------------------------------------------


def test_send_from_a_proposal_records_the_terms_and_the_expiry_window():
    listing, _, proposal = submitted(listed_job())
    offer = Offer("offer-1")
    send_offer(listing, proposal, offer, CLIENT, fixed_terms(), T0, SETTINGS)
    assert types(listing) == ["ListingOfferOpened"]
    assert types(proposal) == ["ProposalOfferReceived"]
    assert types(offer) == ["OfferSent"]
    data = offer.pending[0].data
    assert data["expires_at"] == EXPIRY.isoformat()
    assert data["validity_days"] == 30
    assert data["currency"] == "USD"
    assert data["title"] == "Build a bidding service"
    assert data["milestones"][0] == {
        "title": "Design",
        "amount": {"amount": 100_00, "currency": "USD"},
        "due_date": (START + timedelta(days=7)).isoformat(),
    }


def test_direct_offer_goes_only_to_an_invited_freelancer_without_a_proposal():
    listing = listed_job(invited=["fl-1"])
    direct = fixed_terms(proposal_id=None, freelancer_id="fl-1")
    offer = Offer("offer-1")
    send_offer(listing, None, offer, CLIENT, direct, T0, SETTINGS)
    assert offer.pending[0].data["proposal_id"] is None
    with pytest.raises(Conflict, match="invited"):
        send_offer(listed_job(), None, Offer("o2"), CLIENT, direct, T0, SETTINGS)
    listing, _, _ = submitted(listed_job(invited=["fl-1"]))
    with pytest.raises(Conflict, match="send the offer from it"):
        send_offer(listing, None, Offer("o3"), CLIENT, direct, T0, SETTINGS)
    with pytest.raises(ValidationError):
        send_offer(
            listed_job(invited=["client-1"]),
            None,
            Offer("o4"),
            CLIENT,
            fixed_terms(proposal_id=None, freelancer_id="client-1"),
            T0,
            SETTINGS,
        )


def test_one_pending_offer_per_freelancer():
    listing, proposal, _ = offered()
    with pytest.raises(Conflict, match="pending offer"):
        send_offer(listing, proposal, Offer("offer-2"), CLIENT, fixed_terms(), T0, SETTINGS)


def test_only_the_jobs_client_sends_offers():
    listing, _, proposal = submitted(listed_job())
    other_client = Actor("client-2", frozenset({"client"}))
    for actor, error in (
        (other_client, Forbidden),
        (FREELANCER, Forbidden),
        (Actor("client-1", frozenset({"client"}), suspended=True), Forbidden),
    ):
        offer = Offer("offer-1")
        with pytest.raises(error):
            send_offer(listing, proposal, offer, actor, fixed_terms(), T0, SETTINGS)
        assert listing.pending == proposal.pending == offer.pending == []


def test_offer_terms_rules():
    def refused(form, field, listing=None):
        listing_, _, proposal = submitted(listing or listed_job())
        offer = Offer("offer-1")
        with pytest.raises(ValidationError) as error:
            send_offer(listing_, proposal, offer, CLIENT, form, T0, SETTINGS)
        assert field in error.value.fields, error.value.fields
        assert listing_.pending == proposal.pending == offer.pending == []

    refused(fixed_terms(milestones=[]), "milestones")
    refused(fixed_terms(hourly_rate=usd(1)), "hourly_rate")
    refused(fixed_terms(start_date=(T0 - timedelta(days=1)).date()), "start_date")
    refused(fixed_terms(milestones=[milestone("A", 1, START - timedelta(days=1))]), "milestones")
    refused(
        fixed_terms(milestones=[milestone("A", 1), {**milestone("B", 1), "amount": eur(1)}]),
        "milestones",
    )
    refused(fixed_terms(milestones=[{**milestone("A", 1), "amount": eur(1)}]), "currency")
    refused(hourly_terms(weekly_limit_hours=None), "weekly_limit_hours")
    refused(hourly_terms(hourly_rate=None), "hourly_rate")
    refused(hourly_terms(milestones=[milestone("A", 1)]), "milestones")
    # Starting today is allowed.
    offered(fixed_terms(start_date=T0.date()))


def test_no_offer_on_a_closed_job_or_a_foreign_or_ended_proposal():
    listing, _, proposal = submitted(listed_job())
    with pytest.raises(NotFound):
        send_offer(listed_job("job-2"), proposal, Offer("o"), CLIENT, fixed_terms(), T0, SETTINGS)
    with pytest.raises(ValidationError):
        send_offer(
            listing, proposal, Offer("o"), CLIENT, fixed_terms(freelancer_id="fl-2"), T0, SETTINGS
        )
    proposal.decline(CLIENT.user_id, "other", "", T0)
    with pytest.raises(Conflict, match="declined proposal"):
        send_offer(listing, replay(proposal), Offer("o"), CLIENT, fixed_terms(), T0, SETTINGS)
    listing.delist("no_hire", T0, SETTINGS)
    with pytest.raises(Conflict, match="closed"):
        send_offer(replay(listing), None, Offer("o"), CLIENT, fixed_terms(), T0, SETTINGS)


# ---- answering ---------------------------------------------------------------------------


def test_accepting_a_fixed_offer_carries_exactly_the_terms_escrow_reads():
    listing, proposal, offer = offered()
    accept_offer(offer, listing, proposal, FREELANCER, T0 + SECOND)
    assert types(offer) == ["OfferAccepted"]
    assert types(listing) == ["ListingOfferSettled"]
    assert types(proposal) == ["ProposalHired"]
    assert offer.pending[0].data == {
        "offer_id": "offer-1",
        "proposal_id": "prop-1",
        "job_id": "job-1",
        "client_id": "client-1",
        "freelancer_id": "fl-1",
        "kind": "fixed",
        "currency": "USD",
        "milestones": [
            {
                "title": "Design",
                "amount": {"amount": 100_00, "currency": "USD"},
                "due_date": (START + timedelta(days=7)).isoformat(),
            },
            {"title": "Build", "amount": {"amount": 200_00, "currency": "USD"}, "due_date": None},
        ],
        "start_date": START.isoformat(),
    }
    listing = replay(listing)
    assert "fl-1" in listing.hired
    assert replay(proposal).status == "hired"


def test_accepting_an_hourly_offer():
    listing, proposal, offer = offered(hourly_terms(), listing=listed_job(budget=hourly_budget()))
    accept_offer(offer, listing, proposal, FREELANCER, T0)
    assert offer.pending[0].data == {
        "offer_id": "offer-1",
        "proposal_id": "prop-1",
        "job_id": "job-1",
        "client_id": "client-1",
        "freelancer_id": "fl-1",
        "kind": "hourly",
        "currency": "USD",
        "hourly_rate": {"amount": 45_00, "currency": "USD"},
        "weekly_limit_hours": 20,
        "manual_time_allowed": True,
        "start_date": START.isoformat(),
    }


def test_nobody_accepts_an_offer_made_to_someone_else():
    listing, proposal, offer = offered()
    for actor in (OTHER_FREELANCER, CLIENT):
        with pytest.raises(Forbidden):
            accept_offer(offer, listing, proposal, actor, T0)
        with pytest.raises(Forbidden):
            decline_offer(offer, listing, proposal, actor, "other", "", T0)
    assert offer.pending == listing.pending == proposal.pending == []


def test_a_suspended_freelancer_cannot_accept():
    listing, proposal, offer = offered()
    suspended = Actor("fl-1", frozenset({"freelancer"}), suspended=True)
    with pytest.raises(Forbidden, match="suspended"):
        accept_offer(offer, listing, proposal, suspended, T0)


@pytest.mark.parametrize("offset, open_", [(-SECOND, True), (timedelta(0), False), (SECOND, False)])
def test_an_offer_can_be_answered_until_it_expires(offset, open_):
    listing, proposal, offer = offered()
    when = EXPIRY + offset
    if open_:
        accept_offer(offer, listing, proposal, FREELANCER, when)
        assert types(offer) == ["OfferAccepted"]
    else:
        for act in (
            lambda: accept_offer(offer, listing, proposal, FREELANCER, when),
            lambda: decline_offer(offer, listing, proposal, FREELANCER, "other", "", when),
            lambda: withdraw_offer(offer, listing, proposal, CLIENT, "", when),
        ):
            with pytest.raises(Conflict, match="expired at"):
                act()


@pytest.mark.parametrize(
    "offset, expires", [(-SECOND, False), (timedelta(0), True), (SECOND, True)]
)
def test_an_offer_expires_from_its_expiry_instant(offset, expires):
    listing, proposal, offer = offered()
    when = EXPIRY + offset
    if expires:
        expire_offer(offer, listing, proposal, when)
        assert types(offer) == ["OfferExpired"]
        assert proposal.pending[0].data["outcome"] == "expired"
        assert replay(proposal).is_live
    else:
        with pytest.raises(Conflict, match="valid until"):
            expire_offer(offer, listing, proposal, when)


def test_declining_or_withdrawing_leaves_the_proposal_live():
    listing, proposal, offer = offered()
    decline_offer(offer, listing, proposal, FREELANCER, "rate_too_low", "", T0)
    assert offer.pending[0].type == "OfferDeclined"
    listing, proposal, offer = replay(listing), replay(proposal), replay(offer)
    assert proposal.is_live and proposal.pending_offer_id is None
    with pytest.raises(Conflict, match="declined"):
        accept_offer(offer, listing, proposal, FREELANCER, T0)
    # The client may offer again.
    send_offer(listing, proposal, Offer("offer-2"), CLIENT, fixed_terms(), T0, SETTINGS)

    listing, proposal, offer = offered()
    with pytest.raises(Forbidden):
        withdraw_offer(offer, listing, proposal, FREELANCER, "", T0)
    withdraw_offer(offer, listing, proposal, CLIENT, "changed plans", T0)
    assert offer.pending[0].data["reason"] == "changed plans"
    assert replay(proposal).is_live


def test_a_freelancer_cannot_withdraw_the_proposal_once_an_offer_arrives():
    listing, proposal, offer = offered()
    with pytest.raises(Conflict, match="offer is waiting"):
        withdraw_proposal(listing, proposal, FREELANCER, "other", "", T0)
    withdraw_offer(offer, listing, proposal, CLIENT, "", T0)
    listing, proposal = replay(listing), replay(proposal)
    withdraw_proposal(listing, proposal, FREELANCER, "other", "", T0)
    assert types(proposal) == ["ProposalWithdrawn"]


def test_the_client_cannot_decline_a_proposal_with_a_pending_offer():
    _, proposal, _ = offered()
    with pytest.raises(Conflict, match="withdraw the pending offer"):
        proposal.decline(CLIENT.user_id, "other", "", T0)


def test_a_closed_job_voids_pending_offers_and_blocks_acceptance():
    listing, proposal, offer = offered()
    refunds, pending = delist_job(listing, "cancelled", T0, SETTINGS)
    assert pending == ["offer-1"]
    listing = replay(listing)
    with pytest.raises(Conflict, match="job has closed"):
        accept_offer(offer, listing, proposal, FREELANCER, T0)
    void_offer(offer, listing, proposal, T0)
    assert offer.pending[0].data["reason"] == "job_closed"
    listing, proposal, offer = replay(listing), replay(proposal), replay(offer)
    assert offer.status == "withdrawn" and listing.pending_offers == {}
    void_offer(offer, listing, proposal, T0)  # a second void does nothing
    assert offer.pending == []


def test_a_hire_means_a_cancelled_job_refunds_nothing():
    listing, proposal, offer = offered()
    accept_offer(offer, listing, proposal, FREELANCER, T0)
    listing = replay(listing)
    refunds, _ = delist_job(listing, "cancelled", T0, SETTINGS)
    assert refunds == []
    assert listing.pending[-1].data["refunds_connects"] is False


def test_no_second_offer_to_a_hired_freelancer():
    listing, proposal, offer = offered()
    accept_offer(offer, listing, proposal, FREELANCER, T0)
    listing = replay(listing)
    with pytest.raises(Conflict, match="already hired"):
        listing.open_offer("offer-2", "fl-1", T0)


def test_mismatched_aggregates_are_a_wiring_error():
    listing, proposal, offer = offered()
    with pytest.raises(ValueError):
        accept_offer(offer, listed_job("job-2"), proposal, FREELANCER, T0)
    with pytest.raises(ValueError):
        accept_offer(offer, listing, Proposal("other"), FREELANCER, T0)
    with pytest.raises(NotFound):
        accept_offer(Offer("nope"), listing, proposal, FREELANCER, T0)


def test_offer_ids_are_used_once():
    listing, proposal, offer = offered()
    with pytest.raises(Conflict, match="already exists"):
        send_offer(listing, proposal, offer, CLIENT, fixed_terms(), T0, SETTINGS)
