"""Read models folded from events: job_search rows, client stats, history and job page."""

from __future__ import annotations

import pytest

from services.jobs.projections import (
    ClientStats,
    client_id_of,
    client_search_columns,
    client_stats_after,
    client_stats_view,
    job_history,
    job_row_after,
    job_view,
    row_visible_to,
)
from shared.clock import iso
from shared.money import Money
from tests.unit.jobs.helpers import (
    CLIENT,
    FREELANCER,
    FREELANCER_2,
    OPERATOR,
    SECOND,
    SETTINGS,
    SKILLS,
    T0,
    TAXONOMY,
    draft_events,
    given,
    history,
    open_events,
)


def fold(events, row=None):
    for event in events:
        row = job_row_after(row, event.type, event.data)
    return row


def busy_job_events():
    events = open_events()
    job = given(events)
    job.update(
        CLIENT,
        {"budget": {"type": "fixed", "amount": Money(90_000, "USD")}, "hours_per_week": None},
        T0 + SECOND,
        SETTINGS,
        TAXONOMY,
        SKILLS,
    )
    job.invite_freelancer(CLIENT, "freelancer-2", None, T0 + SECOND * 2, SETTINGS)
    job.invite_freelancer(CLIENT, "freelancer-1", "Hi", T0 + SECOND * 3, SETTINGS)
    job.decline_invitation(FREELANCER_2, None, T0 + SECOND * 4)
    job.note_proposal_received("prop-1", "freelancer-1", T0 + SECOND * 5, SETTINGS)
    job.note_proposal_received("prop-2", "freelancer-3", T0 + SECOND * 6, SETTINGS)
    job.note_proposal_withdrawn("prop-2", T0 + SECOND * 7)
    job.check_deadlines(T0 + SECOND * 6 + SETTINGS.expire_after - SETTINGS.warn_before)
    return events + history(job)


def test_a_draft_row_is_not_searchable_until_published():
    row = fold(draft_events())
    assert row["status"] == "draft" and row["published_at"] is None
    assert row["job_type"] == "hourly"
    assert (row["budget_currency"], row["budget_low"], row["budget_high"]) == ("USD", 2500, 6000)
    assert row["skills"] == ["Python", "Django"]


def test_the_row_follows_edits_invitations_and_proposals():
    row = fold(busy_job_events())
    assert row["status"] == "open" and row["published_at"] == T0
    assert (row["job_type"], row["budget_low"], row["budget_high"]) == ("fixed", 90_000, 90_000)
    assert row["hours_per_week"] is None
    assert row["invitees"] == ["freelancer-1", "freelancer-2"]
    assert row["proposal_count"] == 1
    assert row["last_activity_at"] == T0 + SECOND * 6
    assert row["expires_at"] == T0 + SECOND * 6 + SETTINGS.expire_after


@pytest.mark.parametrize("how", ["closed", "expired", "filled"])
def test_the_row_closes(how):
    events = open_events()
    job = given(events)
    if how == "closed":
        job.close(CLIENT, "no_hire", T0)
    elif how == "expired":
        job.check_deadlines(T0 + SETTINGS.expire_after)
    else:
        job.record_hire("contract-1", "freelancer-1", T0)
        job.record_hire("contract-2", "freelancer-2", T0)
    row = fold(events + history(job))
    assert row["status"] == "closed"
    assert (
        row["close_reason"] == {"closed": "no_hire", "expired": "expired", "filled": "filled"}[how]
    )
    assert row["hire_count"] == (2 if how == "filled" else 0)


def test_the_row_refuses_events_it_does_not_know_or_out_of_order():
    with pytest.raises(ValueError):
        job_row_after(None, "JobPublished", {})
    row = fold(draft_events())
    with pytest.raises(ValueError):
        job_row_after(row, "SomethingElse", {})


def test_rebuilding_from_the_log_equals_the_live_row():
    events = busy_job_events()
    live = None
    for n, event in enumerate(events):
        live = job_row_after(live, event.type, event.data)
        assert live == fold(events[: n + 1])
    assert live == fold(events)


def test_row_visibility_matches_the_aggregate():
    events = busy_job_events()
    row, job = fold(events), given(events)
    for visibility in ("public", "signed_in", "invite_only"):
        row["visibility"] = job.details["visibility"] = visibility
        for viewer in (None, CLIENT, FREELANCER, FREELANCER_2, OPERATOR):
            assert row_visible_to(row, viewer) is job.can_view(viewer), (visibility, viewer)


def test_a_draft_row_is_visible_to_its_owner_only():
    row = fold(draft_events())
    assert row_visible_to(row, CLIENT) and row_visible_to(row, OPERATOR)
    assert not row_visible_to(row, None) and not row_visible_to(row, FREELANCER)


# --- client stats ---------------------------------------------------------------------------


def test_client_stats_fold_consumed_and_own_events():
    stream = [
        ("PaymentMethodVerified", {"user_id": "client-1", "verified_at": T0}),
        ("JobPublished", {"client_id": "client-1", "job_id": "j1"}),
        ("JobPublished", {"client_id": "client-1", "job_id": "j2"}),
        ("JobPublished", {"client_id": "client-1", "job_id": "j3"}),
        ("ContractStarted", {"client_id": "client-1", "job_id": "j1", "contract_id": "c1"}),
        ("ContractStarted", {"client_id": "client-1", "job_id": "j1", "contract_id": "c2"}),
        ("PaymentReleased", {"client_id": "client-1", "amount": Money(12_345, "USD")}),
        ("PaymentReleased", {"client_id": "client-1", "amount": {"amount": 5, "currency": "USD"}}),
        ("PaymentReleased", {"client_id": "client-1", "amount": Money(700, "EUR")}),
        (
            "ClientRatingUpdated",
            {"client_id": "client-1", "average_rating_centi": 480, "rating_count": 3},
        ),
        (
            "ClientRatingUpdated",
            {"client_id": "client-1", "average_rating_centi": 450, "rating_count": 4},
        ),
    ]
    stats = None
    for kind, data in stream:
        assert client_id_of(kind, data) == "client-1"
        stats = client_stats_after(stats, kind, data)
    assert stats.jobs_posted == 3 and stats.total_hires == 2
    assert stats.hire_rate_percent == 33  # one of three jobs led to a hire, rounded down
    assert client_stats_view(stats) == {
        "payment_verified": True,
        "jobs_posted": 3,
        "hires": 2,
        "hire_rate_percent": 33,
        "total_spent": [{"amount": 700, "currency": "EUR"}, {"amount": 12_350, "currency": "USD"}],
        "average_rating_centi": 450,
        "rating_count": 4,
    }
    assert client_search_columns(stats) == {
        "client_payment_verified": True,
        "client_total_hires": 2,
        "client_suspended": False,
        "client_rating_centi": 450,
        "client_rating_count": 4,
    }


def test_suspension_and_reinstatement():
    stats = client_stats_after(None, "UserSuspended", {"user_id": "client-1"})
    assert stats.suspended and client_search_columns(stats)["client_suspended"]
    stats = client_stats_after(stats, "UserReinstated", {"user_id": "client-1"})
    assert not stats.suspended


def test_a_new_client_has_no_hire_rate_and_unknown_events_are_refused():
    assert ClientStats("c").hire_rate_percent is None
    with pytest.raises(ValueError):
        client_stats_after(None, "ProposalSubmitted", {})


# --- history and page ----------------------------------------------------------------------


def test_history_shows_edits_with_old_and_new_values_to_the_owner():
    entries = job_history(busy_job_events(), CLIENT)
    kinds = [e["type"] for e in entries]
    assert kinds[:4] == ["JobCreated", "JobPublished", "JobUpdated", "FreelancerInvited"]
    edit = entries[2]
    assert edit["by"] == "client-1" and edit["at"] == iso(T0 + SECOND)
    assert edit["changes"]["budget"]["to"] == {
        "type": "fixed",
        "amount": {"amount": 90_000, "currency": "USD"},
    }
    assert edit["changes"]["hours_per_week"] == {"from": "less_than_30", "to": None}
    assert [e["version"] for e in entries] == list(range(1, len(entries) + 1))


def test_history_for_the_public_hides_people_and_proposals():
    entries = job_history(busy_job_events(), None)
    assert [e["type"] for e in entries] == ["JobCreated", "JobPublished", "JobUpdated"]
    assert all("by" not in e for e in entries)


def test_job_view_for_owner_and_invitee():
    events = busy_job_events()
    job = given(events)
    owner_view = job_view(job, CLIENT)
    assert owner_view["invitations"] == [
        {"freelancer_id": "freelancer-1", "status": "proposed"},
        {"freelancer_id": "freelancer-2", "status": "declined"},
    ]
    assert owner_view["expires_at"] == iso(job.expires_at)
    assert owner_view["proposal_count"] == 1 and owner_view["version"] == len(events)
    assert owner_view["client"]["hire_rate_percent"] is None
    public = job_view(job, None)
    assert "invitations" not in public and "expires_at" not in public
    assert job_view(job, FREELANCER)["my_invitation"] == "proposed"
    assert public["title"] == "Build a Django booking site"
    assert public["published_at"] == iso(T0)
    assert public["created_at"] == iso(T0)
