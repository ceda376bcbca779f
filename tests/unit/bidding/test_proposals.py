"""Proposals: given a listed job and a wallet, when a freelancer or client acts, then..."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.bidding.domain import Actor, submit_proposal, withdraw_proposal
from services.bidding.listing import JobListing
from services.bidding.proposal import Proposal
from services.bidding.wallet import ConnectsWallet
from shared.errors import Conflict, Forbidden, NotFound, ValidationError

from .builders import (
    CLIENT,
    FREELANCER,
    OTHER_FREELANCER,
    SECOND,
    SETTINGS,
    T0,
    eur,
    fixed_budget,
    funded_wallet,
    hourly_budget,
    listed_job,
    milestone,
    proposal_form,
    replay,
    submitted,
    types,
    usd,
)


def attempt(listing, wallet=None, actor=FREELANCER, now=T0, **overrides):
    """Submit and return the three aggregates with their new (pending) events."""
    wallet = wallet or funded_wallet(actor.user_id, now, connects=20)
    proposal = Proposal("prop-1")
    submit_proposal(listing, wallet, proposal, actor, proposal_form(**overrides), now, SETTINGS)
    return listing, wallet, proposal


def refused(error, listing, wallet=None, actor=FREELANCER, now=T0, **overrides):
    """The command raises ``error`` and no aggregate has a new event: nothing is spent."""
    wallet = wallet or funded_wallet(actor.user_id, now, connects=20)
    proposal = Proposal("prop-1")
    with pytest.raises(error) as raised:
        submit_proposal(listing, wallet, proposal, actor, proposal_form(**overrides), now, SETTINGS)
    assert listing.pending == [] and wallet.pending == [] and proposal.pending == []
    assert wallet.balance(now) == 20
    return raised.value


# ---- submitting --------------------------------------------------------------------------


def test_a_proposal_spends_connects_by_budget_band_and_shows_the_fee():
    listing, wallet, proposal = attempt(listed_job())
    assert types(listing) == ["ListingProposalEntered"]
    assert types(wallet) == ["ConnectsSpent"]
    assert types(proposal) == ["ProposalSubmitted"]
    spent = wallet.pending[0].data
    assert (spent["budget_band"], spent["proposal_connects"], spent["connects"]) == (
        "medium",
        4,
        4,
    )
    data = proposal.pending[0].data
    assert data["fee"] == {
        "rate_bps": 1000,
        "gross": {"amount": 300_00, "currency": "USD"},
        "fee": {"amount": 30_00, "currency": "USD"},
        "net": {"amount": 270_00, "currency": "USD"},
    }
    assert data["answers"] == [
        {"question_id": "q1", "question": QUESTION_1, "answer": "Yes, twice."},
        {"question_id": "q2", "question": "Which time zone are you in?", "answer": "UTC+1"},
    ]
    assert (data["client_id"], data["freelancer_id"], data["kind"]) == ("client-1", "fl-1", "fixed")
    assert data["connects_spent"] == 4 and data["invited"] is False
    assert replay(wallet).balance(T0) == 16


QUESTION_1 = "Have you built a marketplace before?"


@pytest.mark.parametrize(
    "budget, bid, band, connects",
    [
        (fixed_budget(100_00), usd(100), "small", 2),
        (fixed_budget(100_01), usd(100), "medium", 4),
        (fixed_budget(500_00), usd(100), "medium", 4),
        (fixed_budget(2_000_00), usd(100), "large", 8),
        (fixed_budget(2_000_01), usd(100), "very_large", 16),
        (fixed_budget(300_00, "EUR"), eur(100), "unspecified", 4),
        (hourly_budget(10_00, 15_00), usd(100), "small", 2),
        (hourly_budget(10_00, 15_01), usd(100), "medium", 4),
        (hourly_budget(50_00, None), usd(100), "large", 8),
        (hourly_budget(None, None), usd(100), "unspecified", 4),
    ],
)
def test_rate_card_band_boundaries(budget, bid, band, connects):
    _, wallet, _ = attempt(listed_job(budget=budget), bid=bid)
    data = wallet.pending[0].data
    assert (data["budget_band"], data["proposal_connects"]) == (band, connects)


def test_answering_an_invitation_costs_nothing_but_a_boost_still_costs():
    listing, wallet, proposal = attempt(listed_job(invited=["fl-1"]))
    assert types(wallet) == []
    assert proposal.pending[0].data["invited"] is True
    assert listing.pending[0].data["spend_id"] is None
    listing, wallet, proposal = attempt(listed_job(invited=["fl-1"]), boost=5)
    assert wallet.pending[0].data["proposal_connects"] == 0
    assert wallet.pending[0].data["boost_connects"] == 5


def test_fixed_milestones_must_add_up_to_the_bid():
    ok = [milestone("Design", 100_00), milestone("Build", 200_00)]
    _, _, proposal = attempt(listed_job(), milestones=ok)
    assert proposal.pending[0].data["milestones"][1] == {
        "title": "Build",
        "amount": {"amount": 200_00, "currency": "USD"},
        "due_date": None,
    }
    error = refused(
        ValidationError, listed_job(), milestones=[milestone("A", 100_00), milestone("B", 1)]
    )
    assert "add up to 100.01 USD; the bid is 300.00 USD" in error.fields["milestones"][0]


def test_milestone_rules():
    error = refused(ValidationError, listed_job(), milestones=[milestone("A", 0)] * 1)
    assert any("positive" in m for m in error.fields["milestones"])
    past = (T0 - timedelta(days=1)).date()
    error = refused(ValidationError, listed_job(), milestones=[milestone("A", 300_00, past)])
    assert any("due before" in m for m in error.fields["milestones"])
    today = T0.date()
    attempt(listed_job(), milestones=[milestone("A", 300_00, today)])
    error = refused(
        ValidationError,
        listed_job(budget=hourly_budget()),
        bid=usd(30_00),
        milestones=[milestone("A", 30_00)],
    )
    assert error.fields["milestones"] == ["Only fixed-price proposals have milestones."]
    too_many = [milestone(str(i), 1) for i in range(21)]
    error = refused(ValidationError, listed_job(), bid=usd(21), milestones=too_many)
    assert "At most 20 milestones." in error.fields["milestones"]


@pytest.mark.parametrize("amount", [0, -100])
def test_a_bid_of_zero_or_less_is_refused(amount):
    error = refused(ValidationError, listed_job(), bid=usd(amount))
    assert error.fields["bid"] == ["Must be a positive amount."]


def test_the_bid_is_in_the_jobs_currency():
    error = refused(ValidationError, listed_job(), bid=eur(100))
    assert "USD" in error.fields["bid"][0]


def test_every_screening_question_needs_one_answer():
    error = refused(ValidationError, listed_job(), answers=[{"question_id": "q1", "answer": "Y"}])
    assert error.fields["answers"] == ["Question q2 needs an answer."]
    error = refused(
        ValidationError,
        listed_job(),
        answers=[
            {"question_id": "q1", "answer": "Y"},
            {"question_id": "q1", "answer": "Y again"},
            {"question_id": "q2", "answer": "   "},
            {"question_id": "q9", "answer": "?"},
        ],
    )
    assert error.fields["answers"] == [
        "Question q1 is answered twice.",
        "The answer to question q2 is blank.",
        "There is no screening question q9.",
    ]
    attempt(listed_job(questions=[]), answers=[])


def test_boost_is_bounded_by_the_setting():
    error = refused(ValidationError, listed_job(), boost=SETTINGS.max_boost + 1)
    assert "boost" in error.fields
    wallet = funded_wallet(connects=200)
    attempt(listed_job(), wallet=wallet, boost=SETTINGS.max_boost)


def test_not_enough_connects_spends_nothing():
    wallet = funded_wallet(connects=5)
    proposal = Proposal("prop-1")
    listing = listed_job()
    with pytest.raises(Conflict, match="needs 6 and you have 5"):
        submit_proposal(listing, wallet, proposal, FREELANCER, proposal_form(boost=2), T0, SETTINGS)
    assert listing.pending == wallet.pending == proposal.pending == []


def test_who_may_bid():
    refused(NotFound, JobListing("unknown-job"))
    refused(NotFound, listed_job(visibility="invite_only"))
    attempt(listed_job(visibility="invite_only", invited=["fl-1"]))
    suspended = Actor("fl-1", frozenset({"freelancer"}), suspended=True)
    refused(Forbidden, listed_job(), actor=suspended)
    refused(Forbidden, listed_job(), actor=Actor("fl-1", frozenset({"client"})))
    own = Actor(CLIENT.user_id, frozenset({"client", "freelancer"}))
    with pytest.raises(Forbidden, match="own job"):
        attempt(listed_job(), actor=own)


def test_no_proposal_on_a_closed_job():
    listing = listed_job()
    listing.delist("no_hire", T0, SETTINGS)
    error = refused(Conflict, replay(listing))
    assert "closed" in error.message


def test_one_live_proposal_per_freelancer_per_job():
    listing, wallet, first = submitted(listed_job())
    second = Proposal("prop-2")
    with pytest.raises(Conflict, match="already have a live proposal"):
        submit_proposal(listing, wallet, second, FREELANCER, proposal_form(), T0, SETTINGS)
    assert wallet.pending == []
    # Another freelancer is not blocked.
    submitted(listing, actor=OTHER_FREELANCER, proposal_id="prop-3")


def test_a_proposal_id_is_used_once():
    listing, wallet, proposal = submitted(listed_job())
    with pytest.raises(Conflict, match="already exists"):
        submit_proposal(
            listed_job(), funded_wallet(), proposal, FREELANCER, proposal_form(), T0, SETTINGS
        )


# ---- withdrawing -------------------------------------------------------------------------


def test_withdraw_keeps_the_connects_spent_and_frees_the_slot():
    listing, wallet, proposal = submitted(listed_job())
    withdraw_proposal(listing, proposal, FREELANCER, "rate_too_low", "", T0 + SECOND)
    assert types(proposal) == ["ProposalWithdrawn"]
    assert types(listing) == ["ListingProposalWithdrawn"]
    assert wallet.pending == []
    listing, proposal = replay(listing), replay(proposal)
    assert wallet.balance(T0) == 96
    submitted(listing, proposal_id="prop-2", wallet=wallet)


def test_withdraw_rules():
    listing, _, proposal = submitted(listed_job())
    with pytest.raises(Forbidden):
        withdraw_proposal(listing, proposal, OTHER_FREELANCER, "other", "", T0)
    with pytest.raises(Forbidden):
        withdraw_proposal(listing, proposal, CLIENT, "other", "", T0)
    withdraw_proposal(listing, proposal, FREELANCER, "other", "", T0)
    listing, proposal = replay(listing), replay(proposal)
    with pytest.raises(Conflict, match="withdrawn proposal cannot be withdrawn"):
        withdraw_proposal(listing, proposal, FREELANCER, "other", "", T0)
    with pytest.raises(NotFound):
        Proposal("nope").withdraw("fl-1", "other", "", T0)


# ---- the client's side -------------------------------------------------------------------


def test_client_files_proposals():
    _, _, proposal = submitted(listed_job())
    assert proposal.shortlist(CLIENT.user_id, T0).type == "ProposalShortlisted"
    proposal = replay(proposal)
    assert proposal.folder == "shortlisted"
    with pytest.raises(Conflict, match="already shortlisted"):
        proposal.shortlist(CLIENT.user_id, T0)
    proposal.archive(CLIENT.user_id, T0)
    assert replay(proposal).folder == "archived"


def test_only_the_jobs_client_handles_its_proposals():
    _, _, proposal = submitted(listed_job())
    for act in (
        lambda: proposal.shortlist("fl-1", T0),
        lambda: proposal.archive("someone", T0),
        lambda: proposal.decline("fl-2", "other", "", T0),
        lambda: proposal.message("fl-1", T0),
    ):
        with pytest.raises(Forbidden):
            act()
    assert proposal.pending == []


def test_decline_with_a_reason_ends_the_proposal():
    _, _, proposal = submitted(listed_job())
    event = proposal.decline(CLIENT.user_id, "too_expensive", "Over budget.", T0)
    assert event.data["reason"] == "too_expensive"
    assert event.data["freelancer_id"] == "fl-1"
    proposal = replay(proposal)
    assert proposal.status == "declined"
    with pytest.raises(Conflict):
        proposal.shortlist(CLIENT.user_id, T0)
    with pytest.raises(Conflict):
        proposal.decline(CLIENT.user_id, "other", "", T0)


def test_declined_freelancer_cannot_bid_again_on_the_job():
    listing, wallet, proposal = submitted(listed_job())
    proposal.decline(CLIENT.user_id, "other", "", T0)
    with pytest.raises(Conflict, match="live proposal"):
        submitted(listing, proposal_id="prop-2", wallet=wallet)


def test_messaging_a_proposal_opens_the_interview_room_once():
    _, _, proposal = submitted(listed_job())
    event = proposal.message(CLIENT.user_id, T0)
    assert event.type == "ProposalMessaged"
    assert event.data == {
        "proposal_id": "prop-1",
        "job_id": "job-1",
        "client_id": "client-1",
        "freelancer_id": "fl-1",
        "messaged_at": T0.isoformat(),
    }
    proposal = replay(proposal)
    assert proposal.message(CLIENT.user_id, T0) is None


def test_a_withdrawn_proposal_cannot_be_messaged():
    listing, _, proposal = submitted(listed_job())
    withdraw_proposal(listing, proposal, FREELANCER, "other", "", T0)
    with pytest.raises(Conflict):
        replay(proposal).message(CLIENT.user_id, T0)


def test_wallet_rehydrates_to_the_same_balance():
    _, wallet, _ = submitted(listed_job())
    again = ConnectsWallet.rehydrate("fl-1", wallet._stored)
    assert again.balance(T0) == wallet.balance(T0) == 96
