"""Job listing and boost auction: given jobs' events and proposals, when..., then..."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bidding.domain import (
    Actor,
    apply_refunds,
    close_boost_auction,
    delist_job,
    withdraw_proposal,
)
from services.bidding.listing import JobListing
from services.bidding.settings import BiddingSettings
from shared.errors import Conflict, NotFound

from .builders import (
    SECOND,
    SETTINGS,
    T0,
    listed_job,
    replay,
    submitted,
)

AUCTION_END = T0 + timedelta(days=7)


def freelancer(n: int) -> Actor:
    return Actor(f"fl-{n}", frozenset({"freelancer"}))


def with_boosts(boosts: list[int], now=T0):
    """A listing with one proposal per boost, by fl-0, fl-1...; returns listing and wallets."""
    listing = listed_job()
    wallets = {}
    for n, boost in enumerate(boosts):
        listing, wallets[f"fl-{n}"], _ = submitted(
            listing, actor=freelancer(n), proposal_id=f"p{n}", now=now, boost=boost
        )
    return listing, wallets


def test_listing_records_the_auction_window_in_force():
    listing = JobListing("job-1")
    event = listing.list_job("client-1", "T", "public", None, [], ["fl-9", "fl-9"], T0, SETTINGS)
    assert event.type == "JobListed"
    assert event.data["auction_days"] == 7
    assert event.data["auction_ends_at"] == AUCTION_END.isoformat()
    assert event.data["invited_freelancer_ids"] == ["fl-9"]
    # Redelivery of JobPublished records nothing.
    assert replay(listing).list_job("client-1", "T", "public", None, [], [], T0, SETTINGS) is None


def test_a_changed_auction_setting_does_not_move_a_recorded_window():
    listing = listed_job(settings=BiddingSettings(boost_auction_days=2))
    end = T0 + timedelta(days=2)
    with pytest.raises(Conflict):
        listing.close_boost_auction(end - SECOND, SETTINGS)
    assert listing.close_boost_auction(end, SETTINGS).type == "BoostAuctionClosed"


def test_unknown_visibility_is_refused():
    with pytest.raises(Conflict):
        JobListing("j").list_job("c", "T", "secret", None, [], [], T0, SETTINGS)


@pytest.mark.parametrize(
    "offset, accepted", [(-SECOND, True), (timedelta(0), False), (SECOND, False)]
)
def test_boosts_are_taken_until_the_auction_ends(offset, accepted):
    listing = listed_job()
    if accepted:
        submitted(listing, now=AUCTION_END + offset, boost=3)
    else:
        with pytest.raises(Conflict, match="boost auction"):
            submitted(listing, now=AUCTION_END + offset, boost=3)
        # Without a boost the proposal is still welcome.
        submitted(listing, now=AUCTION_END + offset, boost=0)


@pytest.mark.parametrize("offset, closes", [(-SECOND, False), (timedelta(0), True), (SECOND, True)])
def test_the_auction_closes_from_its_end_instant(offset, closes):
    listing, _ = with_boosts([5])
    if closes:
        assert close_boost_auction(listing, AUCTION_END + offset, SETTINGS) == []
    else:
        with pytest.raises(Conflict, match="runs until"):
            close_boost_auction(listing, AUCTION_END + offset, SETTINGS)


def test_top_four_boosts_win_and_losers_are_refunded():
    listing, wallets = with_boosts([5, 9, 0, 5, 7, 3, 5])
    assert listing.boost_ranking() == ["p1", "p4", "p0", "p3", "p6", "p5"]
    assert listing.pinned(SETTINGS.pinned_slots) == ["p1", "p4", "p0", "p3"]
    refunds = close_boost_auction(listing, AUCTION_END, SETTINGS)
    event = listing.pending[0]
    assert event.data["winners"] == ["p1", "p4", "p0", "p3"]
    assert [loser["proposal_id"] for loser in event.data["losers"]] == ["p6", "p5"]
    assert {(r.freelancer_id, r.part, r.reason) for r in refunds} == {
        ("fl-6", "boost", "boost_lost"),
        ("fl-5", "boost", "boost_lost"),
    }
    before = wallets["fl-6"].balance(AUCTION_END)
    recorded = apply_refunds(wallets, refunds, AUCTION_END)
    assert [e.data["connects"] for e in recorded] == [5, 3]
    assert replay(wallets["fl-6"]).balance(AUCTION_END) == before + 5
    listing = replay(listing)
    assert listing.pinned(SETTINGS.pinned_slots) == ["p1", "p4", "p0", "p3"]
    with pytest.raises(Conflict, match="already closed"):
        listing.close_boost_auction(AUCTION_END, SETTINGS)


def test_a_withdrawn_boosted_proposal_leaves_the_ranking_and_keeps_no_refund():
    listing = listed_job()
    listing, _, withdrawn = submitted(listing, actor=freelancer(0), proposal_id="p0", boost=9)
    for n in range(1, 5):
        listing, _, _ = submitted(listing, actor=freelancer(n), proposal_id=f"p{n}", boost=5)
    withdraw_proposal(listing, withdrawn, freelancer(0), "other", "", T0)
    listing = replay(listing)
    assert listing.boost_ranking() == ["p1", "p2", "p3", "p4"]
    refunds = close_boost_auction(listing, AUCTION_END, SETTINGS)
    assert refunds == []


def test_closing_the_job_ends_the_auction_early_and_refunds_losers():
    listing, wallets = with_boosts([1, 2, 3, 4, 5])
    refunds, pending = delist_job(listing, "filled", T0 + timedelta(days=1), SETTINGS)
    assert [e.type for e in listing.pending] == ["BoostAuctionClosed", "JobDelisted"]
    assert listing.pending[0].data["reason"] == "job_closed"
    assert [(r.freelancer_id, r.part) for r in refunds] == [("fl-0", "boost")]
    assert listing.pending[1].data["refunds_connects"] is False
    assert pending == []


def test_a_cancelled_job_refunds_everything_spent_once():
    listing, wallets = with_boosts([0, 2, 0, 0, 0, 1])
    refunds, _ = delist_job(listing, "cancelled", T0 + timedelta(days=1), SETTINGS)
    listing = replay(listing)
    assert listing.refunds_connects is True
    recorded = apply_refunds(wallets, refunds, T0 + timedelta(days=1))
    # Six proposals at 4 connects each, and both boosts (two boosted, so none lost).
    assert sum(e.data["connects"] for e in recorded) == 6 * 4 + 2 + 1
    for wallet in wallets.values():
        assert replay(wallet).balance(T0 + timedelta(days=1)) == 100
    # The event delivered twice: the listing records nothing and nothing is refunded again.
    assert delist_job(listing, "cancelled", T0 + timedelta(days=2), SETTINGS) == ([], [])
    assert listing.pending == []
    assert apply_refunds(wallets, refunds, T0 + timedelta(days=2)) == []


def test_a_removed_job_refunds_with_its_own_reason():
    listing, wallets = with_boosts([0])
    refunds, _ = delist_job(listing, "removed", T0, SETTINGS)
    assert {r.reason for r in refunds} == {"job_removed"}


@pytest.mark.parametrize("outcome", ["filled", "no_hire", "expired"])
def test_other_outcomes_refund_nothing(outcome):
    listing, _ = with_boosts([0, 0])
    refunds, _ = delist_job(listing, outcome, T0, SETTINGS)
    assert refunds == []


def test_unknown_outcome_and_unlisted_job():
    listing, _ = with_boosts([0])
    with pytest.raises(Conflict):
        listing.delist("vanished", T0, SETTINGS)
    with pytest.raises(NotFound):
        JobListing("nope").delist("cancelled", T0, SETTINGS)


def test_invitations_and_visibility():
    listing = listed_job(visibility="invite_only")
    assert not listing.visible_to("fl-1")
    listing.invite("fl-1", T0)
    listing = replay(listing)
    assert listing.visible_to("fl-1")
    assert listing.invite("fl-1", T0) is None
    assert listed_job().visible_to("anyone")
    with pytest.raises(NotFound):
        JobListing("nope").invite("fl-1", T0)


def test_revising_an_open_listing():
    listing = listed_job()
    listing.revise("New title", "public", None, [], T0)
    listing = replay(listing)
    assert listing.title == "New title" and listing.screening_questions == []
    listing.delist("no_hire", T0, SETTINGS)
    with pytest.raises(Conflict):
        replay(listing).revise("x", "public", None, [], T0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=20), max_size=12))
def test_winners_are_the_highest_boosts_and_losers_the_rest(boosts):
    listing = listed_job()
    for n, boost in enumerate(boosts):
        listing.enter_proposal(f"p{n}", f"fl-{n}", boost, f"p{n}", False, T0)
    event = listing.close_boost_auction(AUCTION_END, SETTINGS)
    winners = event.data["winners"]
    losers = [loser["proposal_id"] for loser in event.data["losers"]]
    boosted = {f"p{n}" for n, b in enumerate(boosts) if b > 0}
    assert set(winners) | set(losers) == boosted
    assert len(winners) == min(4, len(boosted))
    boost_of = {f"p{n}": b for n, b in enumerate(boosts)}
    if winners and losers:
        assert min(boost_of[w] for w in winners) >= max(boost_of[x] for x in losers)
