"""Every RPC argument set and consumed event is bounded and refuses what it does not know."""

from __future__ import annotations

import pytest

from services.bidding import schemas
from shared.errors import ValidationError
from shared.schemas import load

USD = {"amount": 300_00, "currency": "USD"}
DESIGN_METHODS = {
    "connects_balance",
    "purchase_connects",
    "submit_proposal",
    "withdraw_proposal",
    "list_proposals",
    "my_proposals",
    "shortlist_proposal",
    "archive_proposal",
    "decline_proposal",
    "send_offer",
    "withdraw_offer",
    "accept_offer",
    "decline_offer",
}
MINIMAL = {
    "connects_balance": {},
    "purchase_connects": {"bundle": 40},
    "quote_proposal": {"job_id": "job-1"},
    "submit_proposal": {
        "job_id": "job-1",
        "cover_letter": "Hello",
        "bid": USD,
        "estimated_duration": "1_to_3_months",
    },
    "withdraw_proposal": {"proposal_id": "p", "reason": "other"},
    "get_proposal": {"proposal_id": "p"},
    "list_proposals": {"job_id": "job-1"},
    "my_proposals": {},
    "shortlist_proposal": {"proposal_id": "p"},
    "archive_proposal": {"proposal_id": "p"},
    "decline_proposal": {"proposal_id": "p", "reason": "too_expensive"},
    "message_proposal": {"proposal_id": "p"},
    "send_offer": {
        "job_id": "job-1",
        "proposal_id": "p",
        "kind": "fixed",
        "milestones": [{"title": "All", "amount": USD}],
        "start_date": "2026-03-05",
    },
    "withdraw_offer": {"offer_id": "o"},
    "accept_offer": {"offer_id": "o"},
    "decline_offer": {"offer_id": "o", "reason": "other"},
    "get_offer": {"offer_id": "o"},
    "list_offers": {},
}


def rpc(method: str, **changes) -> dict:
    return load(schemas.RPC_SCHEMAS[method](), {**MINIMAL[method], **changes})


def refused(method: str, **changes) -> dict:
    with pytest.raises(ValidationError) as error:
        rpc(method, **changes)
    return error.value.fields


def test_every_design_method_has_a_schema():
    assert DESIGN_METHODS <= set(schemas.RPC_SCHEMAS)
    assert set(MINIMAL) == set(schemas.RPC_SCHEMAS)


@pytest.mark.parametrize("method", sorted(MINIMAL))
def test_minimal_arguments_load_and_unknown_fields_are_refused(method):
    rpc(method)
    assert "surprise" in refused(method, surprise=1)


@pytest.mark.parametrize(
    "method",
    sorted(m for m, s in schemas.RPC_SCHEMAS.items() if "idempotency_key" in s().fields),
)
def test_mutating_methods_take_an_optional_bounded_idempotency_key(method):
    assert rpc(method)["idempotency_key"] is None
    assert rpc(method, idempotency_key="k-1")["idempotency_key"] == "k-1"
    assert "idempotency_key" in refused(method, idempotency_key="k" * 129)


def test_mutating_methods_are_the_ones_with_keys():
    mutating = {
        "purchase_connects",
        "submit_proposal",
        "withdraw_proposal",
        "shortlist_proposal",
        "archive_proposal",
        "decline_proposal",
        "message_proposal",
        "send_offer",
        "withdraw_offer",
        "accept_offer",
        "decline_offer",
    }
    for method, schema in schemas.RPC_SCHEMAS.items():
        assert ("idempotency_key" in schema().fields) == (method in mutating), method


@pytest.mark.parametrize(
    "bid",
    [
        {"amount": 0, "currency": "USD"},
        {"amount": -1, "currency": "USD"},
        {"amount": 1.5, "currency": "USD"},
        {"amount": "100", "currency": "USD"},
        {"amount": True, "currency": "USD"},
        {"amount": 100, "currency": "XXX"},
        {"amount": 10**12, "currency": "USD"},
        100,
    ],
)
def test_bad_bids_are_refused(bid):
    assert "bid" in refused("submit_proposal", bid=bid)


def test_proposal_sizes_are_bounded():
    assert "cover_letter" in refused("submit_proposal", cover_letter="")
    assert "cover_letter" in refused("submit_proposal", cover_letter="x" * 5001)
    assert "estimated_duration" in refused("submit_proposal", estimated_duration="forever")
    many = [{"title": "m", "amount": USD}] * 21
    assert "milestones" in refused("submit_proposal", milestones=many)
    answers = [{"question_id": f"q{i}", "answer": "a"} for i in range(11)]
    assert "answers" in refused("submit_proposal", answers=answers)
    assert "answers" in refused("submit_proposal", answers=[{"question_id": "q1", "answer": ""}])
    assert "boost" in refused("submit_proposal", boost=-1)
    assert "boost" in refused("submit_proposal", boost=1001)
    assert "job_id" in refused("submit_proposal", job_id="j" * 65)


def test_attachments_are_bounded_and_unique():
    one = {
        "attachment_id": "a1",
        "filename": "cv.pdf",
        "size_bytes": 1024,
        "content_type": "application/pdf",
    }
    assert rpc("submit_proposal", attachments=[one])["attachments"] == [one]
    assert "attachments" in refused("submit_proposal", attachments=[one, one])
    assert "attachments" in refused("submit_proposal", attachments=[one] * 11)
    huge = {**one, "size_bytes": schemas.MAX_ATTACHMENT_BYTES + 1}
    assert "attachments" in refused("submit_proposal", attachments=[huge])


def test_milestone_dates_parse_and_bad_ones_are_refused():
    loaded = rpc("send_offer", milestones=[{"title": "A", "amount": USD, "due_date": "2026-04-01"}])
    assert loaded["milestones"][0]["due_date"].isoformat() == "2026-04-01"
    bad = [{"title": "A", "amount": USD, "due_date": "April"}]
    assert "milestones" in refused("send_offer", milestones=bad)


def test_offer_arguments():
    assert "proposal_id" in refused("send_offer", proposal_id=None)
    rpc("send_offer", proposal_id=None, freelancer_id="fl-1")
    assert "weekly_limit_hours" in refused("send_offer", weekly_limit_hours=169)
    assert "weekly_limit_hours" in refused("send_offer", weekly_limit_hours=0)
    assert "hourly_rate" in refused("send_offer", hourly_rate={"amount": 0, "currency": "USD"})
    assert "start_date" in refused("send_offer", start_date=None)
    assert "kind" in refused("send_offer", kind="barter")
    assert "reason" in refused("decline_offer", reason="meh")


def test_listing_arguments_are_bounded():
    assert "limit" in refused("list_proposals", limit=101)
    assert "offset" in refused("list_proposals", offset=-1)
    assert "order" in refused("list_proposals", order="random")
    assert "folder" in refused("list_proposals", folder="trash")
    assert "status" in refused("my_proposals", status="lost")
    assert "bundle" in refused("purchase_connects", bundle=0)
    assert "bundle" in refused("purchase_connects", bundle="40")
    assert "reason" in refused("decline_proposal", reason="dunno")
    assert "reason" in refused("withdraw_proposal", reason=None)


# ---- consumed events ---------------------------------------------------------------------

PUBLISHED = {
    "job_id": "job-1",
    "client_id": "client-1",
    "title": "T",
    "visibility": "public",
    "budget": {"kind": "hourly", "min_rate": USD, "max_rate": USD},
    "screening_questions": [{"id": "q1", "text": "Why?"}],
    "published_at": "2026-03-02T09:00:00+00:00",
}


def consumed(type_: str, data: dict) -> dict:
    return load(schemas.CONSUMED_EVENT_SCHEMAS[type_](), data)


def consumed_refused(type_: str, data: dict) -> dict:
    with pytest.raises(ValidationError) as error:
        consumed(type_, data)
    return error.value.fields


def test_job_published_event():
    assert consumed("JobPublished", PUBLISHED)["invited_freelancer_ids"] == []
    assert "extra" in consumed_refused("JobPublished", {**PUBLISHED, "extra": 1})
    naive = {**PUBLISHED, "published_at": "2026-03-02T09:00:00"}
    assert "published_at" in consumed_refused("JobPublished", naive)
    twice = [{"id": "q1", "text": "a"}, {"id": "q1", "text": "b"}]
    assert "screening_questions" in consumed_refused(
        "JobPublished", {**PUBLISHED, "screening_questions": twice}
    )
    assert "visibility" in consumed_refused("JobPublished", {**PUBLISHED, "visibility": "x"})


@pytest.mark.parametrize(
    "budget",
    [
        {"kind": "fixed", "min_rate": USD},
        {"kind": "hourly", "amount": USD},
        {"kind": "hourly", "min_rate": USD, "max_rate": {"amount": 1, "currency": "USD"}},
        {"kind": "hourly", "min_rate": USD, "max_rate": {"amount": 300_00, "currency": "EUR"}},
        {"kind": "fixed", "amount": {"amount": 0, "currency": "USD"}},
        {"kind": "weekly"},
    ],
)
def test_inconsistent_budgets_are_refused(budget):
    assert "budget" in consumed_refused("JobPublished", {**PUBLISHED, "budget": budget})


def test_other_consumed_events():
    at = "2026-03-02T09:00:00+00:00"
    consumed("JobClosed", {"job_id": "j", "outcome": "cancelled", "closed_at": at})
    assert "outcome" in consumed_refused(
        "JobClosed", {"job_id": "j", "outcome": "lost", "closed_at": at}
    )
    consumed(
        "FreelancerInvited",
        {"job_id": "j", "client_id": "c", "freelancer_id": "f", "invited_at": at},
    )
    consumed("UserSuspended", {"user_id": "u", "suspended_at": at})
    consumed("UserReinstated", {"user_id": "u", "reinstated_at": at})
    assert "user_id" in consumed_refused("UserSuspended", {"suspended_at": at})
    updated = {k: v for k, v in PUBLISHED.items() if k != "published_at"}
    consumed("JobUpdated", {**updated, "updated_at": at})
