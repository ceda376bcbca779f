"""Read-model shaping: rows from events, who sees a proposal, the client's ordering."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.bidding.domain import Actor, fee_preview, proposal_price
from services.bidding.listing import JobListing
from services.bidding.projections import (
    can_view_proposal,
    client_view,
    connects_summary,
    freelancer_view,
    order_for_client,
    project_proposal,
    proposal_quote,
    require_job_client,
)
from services.bidding.settings import BiddingSettings
from shared.errors import Forbidden, NotFound
from shared.money import Money

from .builders import (
    CLIENT,
    FREELANCER,
    OTHER_FREELANCER,
    SETTINGS,
    T0,
    funded_wallet,
    listed_job,
    replay,
    submitted,
)


def rows_of(*proposals) -> dict:
    rows: dict = {}
    for proposal in proposals:
        for event in proposal._stored:
            project_proposal(rows, event.type, event.data)
    return rows


def row(pid, bid, minutes, boost=0, status="submitted", folder="inbox"):
    return {
        "proposal_id": pid,
        "bid": {"amount": bid, "currency": "USD"},
        "submitted_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "boost": boost,
        "status": status,
        "folder": folder,
    }


def test_rows_follow_the_proposals_events():
    listing, _, proposal = submitted(listed_job())
    proposal.shortlist(CLIENT.user_id, T0 + timedelta(hours=1))
    proposal = replay(proposal)
    rows = rows_of(proposal)
    assert rows["prop-1"]["folder"] == "shortlisted"
    assert rows["prop-1"]["updated_at"] == (T0 + timedelta(hours=1)).isoformat()
    proposal.decline(CLIENT.user_id, "too_expensive", "", T0)
    rows = rows_of(replay(proposal))
    assert rows["prop-1"]["status"] == "declined"
    assert rows["prop-1"]["decline_reason"] == "too_expensive"


def test_unrelated_events_leave_rows_alone():
    rows = {}
    project_proposal(rows, "ConnectsSpent", {"proposal_id": "x"})
    project_proposal(rows, "ProposalShortlisted", {"proposal_id": "missing", "at": "t"})
    assert rows == {}


def test_a_freelancer_cannot_see_another_freelancers_proposal():
    _, _, proposal = submitted(listed_job())
    the_row = rows_of(proposal)["prop-1"]
    assert can_view_proposal(the_row, FREELANCER)
    assert can_view_proposal(the_row, CLIENT)
    assert not can_view_proposal(the_row, OTHER_FREELANCER)
    assert not can_view_proposal(the_row, Actor("client-2", frozenset({"client"})))
    assert can_view_proposal(the_row, Actor("aud", frozenset({"auditor"})))


def test_the_client_does_not_see_the_freelancers_fee_or_connects():
    _, _, proposal = submitted(listed_job(), boost=3)
    the_row = rows_of(proposal)["prop-1"]
    seen = client_view(the_row)
    assert "fee" not in seen and "connects_spent" not in seen and "boost" not in seen
    assert seen["boosted"] is True
    assert freelancer_view(the_row)["fee"]["net"] == {"amount": 270_00, "currency": "USD"}


def test_pinned_boosts_come_first_then_the_clients_order():
    rows = [
        row("a", 500, 1),
        row("b", 100, 2, boost=5),
        row("c", 300, 3),
        row("d", 200, 4, boost=9),
        row("w", 50, 5, status="withdrawn"),
    ]
    pinned = ["d", "b"]
    assert [r["proposal_id"] for r in order_for_client(rows, pinned)] == ["d", "b", "c", "a"]
    assert [r["proposal_id"] for r in order_for_client(rows, pinned, "oldest")] == [
        "d",
        "b",
        "a",
        "c",
    ]
    assert [r["proposal_id"] for r in order_for_client(rows, [], "bid_low")] == [
        "b",
        "d",
        "c",
        "a",
    ]
    assert [r["proposal_id"] for r in order_for_client(rows, [], "bid_high")] == [
        "a",
        "c",
        "d",
        "b",
    ]
    with pytest.raises(ValueError):
        order_for_client(rows, [], "random")


def test_folders_and_declined_proposals():
    rows = [
        row("a", 1, 1, folder="shortlisted"),
        row("b", 1, 2, folder="archived"),
        row("c", 1, 3, status="declined", boost=4),
        row("d", 1, 4),
    ]
    ids = lambda found: [r["proposal_id"] for r in found]  # noqa: E731
    assert ids(order_for_client(rows, ["c"], folder="shortlisted")) == ["a"]
    assert ids(order_for_client(rows, ["c"], folder="archived")) == ["c", "b"]
    assert ids(order_for_client(rows, ["c"], folder="inbox")) == ["d"]
    # A declined proposal is never pinned.
    assert ids(order_for_client(rows, ["c"])) == ["d", "c", "b", "a"]


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 500)), max_size=15))
def test_ordering_is_a_permutation_of_the_visible_rows(items):
    rows = [row(f"p{i}", bid, minutes) for i, (bid, minutes) in enumerate(items)]
    for order in ("newest", "oldest", "bid_low", "bid_high"):
        ordered = order_for_client(rows, [], order)
        assert sorted(r["proposal_id"] for r in ordered) == sorted(r["proposal_id"] for r in rows)
    bids = [r["bid"]["amount"] for r in order_for_client(rows, [], "bid_low")]
    assert bids == sorted(bids)


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10000))
def test_fee_preview_adds_up(amount, bps):
    shown = fee_preview(Money(amount, "USD"), BiddingSettings(service_fee_bps=bps))
    assert shown["net"]["amount"] + shown["fee"]["amount"] == amount
    assert shown["rate_bps"] == bps


def test_fee_rounds_half_up():
    assert fee_preview(Money(5, "USD"), SETTINGS)["fee"]["amount"] == 1  # 0.5 -> 1
    assert fee_preview(Money(4, "USD"), SETTINGS)["fee"]["amount"] == 0


def test_quote_for_an_invited_freelancer_is_free():
    assert proposal_price(listed_job(), invited=True, settings=SETTINGS)["connects"] == 0
    assert proposal_price(listed_job(), invited=False, settings=SETTINGS)["connects"] == 4


def test_connects_summary():
    wallet = funded_wallet()
    wallet.grant_monthly_allotment(T0 + timedelta(days=31), SETTINGS)
    wallet.request_purchase("buy", 20, T0 + timedelta(days=31), SETTINGS)
    wallet = replay(wallet)
    summary = connects_summary(wallet, T0 + timedelta(days=31))
    assert summary["balance"] == 20
    assert summary["pending_purchase_connects"] == 20
    assert [lot["lot_id"] for lot in summary["lots"]] == ["lot-1", "lot-2"]
    assert summary["next_expiry"] == (T0 + timedelta(days=365)).isoformat()
    assert connects_summary(wallet, T0 + timedelta(days=800))["next_expiry"] is None


def test_only_the_jobs_client_lists_its_proposals():
    listing = listed_job()
    require_job_client(listing, CLIENT)
    require_job_client(listing, Actor("op", frozenset({"operator"})))
    with pytest.raises(Forbidden):
        require_job_client(listing, Actor("client-2", frozenset({"client"})))
    with pytest.raises(Forbidden):
        require_job_client(listing, FREELANCER)
    with pytest.raises(NotFound):
        require_job_client(JobListing("nope"), CLIENT)


def test_quote_before_bidding():
    listing, wallet = listed_job(), funded_wallet()
    quote = proposal_quote(listing, wallet, FREELANCER, Money(300_00, "USD"), 7, T0, SETTINGS)
    assert quote["proposal_connects"] == 4 and quote["connects_needed"] == 11
    assert quote["balance"] == 10 and quote["enough"] is False
    assert quote["fee"]["net"] == {"amount": 270_00, "currency": "USD"}
    assert quote["boost_auction_open"] is True
    assert proposal_quote(listing, wallet, FREELANCER, None, 0, T0, SETTINGS)["fee"] is None
    with pytest.raises(NotFound):
        proposal_quote(
            listed_job(visibility="invite_only"), wallet, FREELANCER, None, 0, T0, SETTINGS
        )
