"""Job: create, edit, publish, close, proposals and hires. Given events, when, then."""

from __future__ import annotations

import pytest

from services.jobs.domain import Actor, Job
from shared.clock import iso
from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from tests.unit.jobs.helpers import (
    CLIENT,
    FREELANCER,
    OPERATOR,
    OTHER_CLIENT,
    SECOND,
    SETTINGS,
    SKILLS,
    T0,
    TAXONOMY,
    details,
    draft_events,
    eur,
    given,
    history,
    open_events,
    then,
    usd,
)

# --- create -------------------------------------------------------------------------------


def test_create_records_job_created_with_canonical_skills_and_json_budget():
    job = Job("job-1")
    job.create(CLIENT, details(), T0, TAXONOMY, SKILLS)
    [(kind, data)] = then(job)
    assert kind == "JobCreated"
    assert data["job_id"] == "job-1" and data["client_id"] == "client-1"
    assert data["created_at"] == iso(T0)
    assert data["details"]["skills"] == ["Python", "Django"]
    assert data["details"]["budget"] == {
        "type": "hourly",
        "min": {"amount": 2500, "currency": "USD"},
        "max": {"amount": 6000, "currency": "USD"},
    }
    assert job.status == "draft"


def test_create_twice_is_a_conflict():
    job = given(draft_events())
    with pytest.raises(Conflict):
        job.create(CLIENT, details(), T0, TAXONOMY, SKILLS)


def test_only_clients_post_jobs():
    with pytest.raises(Forbidden):
        Job("job-1").create(FREELANCER, details(), T0, TAXONOMY, SKILLS)


def test_a_suspended_client_cannot_post():
    suspended = Actor("client-1", frozenset({"client"}), suspended=True)
    with pytest.raises(Forbidden, match="suspended"):
        Job("job-1").create(suspended, details(), T0, TAXONOMY, SKILLS)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": "underwater-basket-weaving"}, "category"),
        ({"subcategory": "seo"}, "subcategory"),  # belongs to sales-marketing
        ({"skills": ["Python", "Cobol on Cogs"]}, "skills"),
        ({"skills": ["Python", "python"]}, "skills"),
        ({"skills": []}, "skills"),
        ({"skills": [f"s{i}" for i in range(16)]}, "skills"),
        ({"title": "   short   "}, "title"),
        ({"title": "x" * 100_000}, "title"),
        ({"description": "too short"}, "description"),
        ({"experience_level": "guru"}, "experience_level"),
        ({"project_length": "forever"}, "project_length"),
        ({"visibility": "secret"}, "visibility"),
        ({"hours_per_week": "lots"}, "hours_per_week"),
        ({"hours_per_week": None}, "hours_per_week"),  # hourly jobs must say
        ({"budget": {"type": "hourly", "min": usd(7000), "max": usd(6000)}}, "budget"),
        ({"budget": {"type": "hourly", "min": usd(100), "max": eur(200)}}, "budget"),
        ({"budget": {"type": "fixed", "amount": usd(0)}}, "budget"),
        ({"budget": {"type": "fixed", "amount": usd(100), "max": usd(5)}}, "budget"),
        ({"budget": {"type": "barter"}}, "budget"),
        ({"screening_questions": ["Why?"]}, "screening_questions"),
        ({"screening_questions": ["Your stack?", "your stack?"]}, "screening_questions"),
        ({"screening_questions": [f"Question {i}?" for i in range(11)]}, "screening_questions"),
        (
            {"attachments": [{"file_id": "f", "name": "a"}, {"file_id": "f", "name": "b"}]},
            "attachments",
        ),
        ({"attachments": [{"file_id": "f"}]}, "attachments"),
        ({"contract_to_hire": "yes"}, "contract_to_hire"),
    ],
)
def test_create_refuses_bad_details_and_records_nothing(overrides, field):
    job = Job("job-1")
    with pytest.raises(ValidationError) as caught:
        job.create(CLIENT, details(**overrides), T0, TAXONOMY, SKILLS)
    assert field in caught.value.fields
    assert job.pending == [] and not job.exists


def test_create_names_every_bad_field_at_once():
    with pytest.raises(ValidationError) as caught:
        Job("job-1").create(
            CLIENT, details(category="nope", skills=["Nope"], title="x"), T0, TAXONOMY, SKILLS
        )
    assert {"category", "skills", "title"} <= set(caught.value.fields)


def test_create_needs_every_field_and_no_unknown_one():
    partial = details()
    del partial["budget"]
    partial["salary"] = 5
    with pytest.raises(ValidationError) as caught:
        Job("job-1").create(CLIENT, partial, T0, TAXONOMY, SKILLS)
    assert set(caught.value.fields) == {"budget", "salary"}


def test_a_fixed_price_job_may_leave_hours_open():
    job = Job("job-1")
    job.create(
        CLIENT,
        details(hours_per_week=None, budget={"type": "fixed", "amount": usd(50_000)}),
        T0,
        TAXONOMY,
        SKILLS,
    )
    [(_, data)] = then(job)
    assert data["details"]["budget"] == {"type": "fixed", "amount": usd(50_000).to_dict()}
    assert data["details"]["hours_per_week"] is None


# --- publish ------------------------------------------------------------------------------


def test_publish_opens_the_draft_and_records_the_window_in_force():
    job = given(draft_events())
    job.publish(CLIENT, T0, SETTINGS)
    [(kind, data)] = then(job)
    assert kind == "JobPublished"
    assert data["published_at"] == iso(T0)
    assert data["expires_at"] == iso(T0 + SETTINGS.expire_after)
    assert data["expiry_warning_at"] == iso(T0 + SETTINGS.expire_after - SETTINGS.warn_before)
    assert data["expire_after_seconds"] == 30 * 86400
    assert data["warn_before_seconds"] == 5 * 86400
    assert data["details"]["title"] == "Build a Django booking site"
    assert job.status == "open"


def test_only_the_owner_publishes():
    job = given(draft_events())
    with pytest.raises(Forbidden):
        job.publish(OTHER_CLIENT, T0, SETTINGS)
    with pytest.raises(Forbidden):
        job.publish(OPERATOR, T0, SETTINGS)


def test_publishing_twice_is_a_conflict():
    job = given(open_events())
    with pytest.raises(Conflict):
        job.publish(CLIENT, T0, SETTINGS)


def test_publishing_an_unknown_job_is_not_found():
    with pytest.raises(NotFound):
        Job("nope").publish(CLIENT, T0, SETTINGS)


# --- update -------------------------------------------------------------------------------


def test_an_edit_of_an_open_job_records_old_and_new_values_and_restarts_the_window():
    job = given(open_events())
    later = T0 + SECOND * 3600
    job.update(
        CLIENT, {"title": "Build a Django booking website"}, later, SETTINGS, TAXONOMY, SKILLS
    )
    [(kind, data)] = then(job)
    assert kind == "JobUpdated"
    assert data["changes"] == {"title": "Build a Django booking website"}
    assert data["previous"] == {"title": "Build a Django booking site"}
    assert data["updated_by"] == "client-1"
    assert data["expires_at"] == iso(later + SETTINGS.expire_after)
    assert job.details["title"] == "Build a Django booking website"


def test_an_edit_of_a_draft_starts_no_window():
    job = given(draft_events())
    job.update(CLIENT, {"contract_to_hire": True}, T0, SETTINGS, TAXONOMY, SKILLS)
    [(_, data)] = then(job)
    assert data["expires_at"] is None and data["expiry_warning_at"] is None
    assert job.expires_at is None


def test_an_edit_that_changes_nothing_records_nothing():
    job = given(open_events())
    assert (
        job.update(CLIENT, {"skills": ["PYTHON", "django"]}, T0, SETTINGS, TAXONOMY, SKILLS) == []
    )
    assert job.pending == []


def test_an_edit_is_checked_against_the_whole_job():
    job = given(open_events())
    with pytest.raises(ValidationError) as caught:
        job.update(CLIENT, {"category": "writing"}, T0, SETTINGS, TAXONOMY, SKILLS)
    assert "subcategory" in caught.value.fields
    job.update(
        CLIENT,
        {"category": "writing", "subcategory": "technical-writing"},
        T0,
        SETTINGS,
        TAXONOMY,
        SKILLS,
    )
    assert job.details["subcategory"] == "technical-writing"


def test_an_edit_refuses_unknown_fields_and_empty_changes():
    job = given(open_events())
    with pytest.raises(ValidationError):
        job.update(CLIENT, {"client_id": "me"}, T0, SETTINGS, TAXONOMY, SKILLS)
    with pytest.raises(ValidationError):
        job.update(CLIENT, {}, T0, SETTINGS, TAXONOMY, SKILLS)


@pytest.mark.parametrize("actor", [OTHER_CLIENT, FREELANCER, OPERATOR])
def test_only_the_owner_edits(actor):
    job = given(open_events())
    with pytest.raises(Forbidden):
        job.update(actor, {"title": "A title from someone else"}, T0, SETTINGS, TAXONOMY, SKILLS)


def test_a_closed_job_cannot_be_edited():
    job = given(open_events())
    job.close(CLIENT, "no_hire", T0)
    with pytest.raises(Conflict):
        job.update(CLIENT, {"title": "A new title for it"}, T0, SETTINGS, TAXONOMY, SKILLS)


def test_budget_type_is_fixed_once_proposals_arrive_but_amounts_may_change():
    job = given(open_events())
    job.note_proposal_received("prop-1", "freelancer-1", T0, SETTINGS)
    fixed = {"type": "fixed", "amount": usd(100_000)}
    with pytest.raises(Conflict):
        job.update(CLIENT, {"budget": fixed}, T0, SETTINGS, TAXONOMY, SKILLS)
    hourly = {"type": "hourly", "min": usd(3000), "max": usd(7000)}
    job.update(CLIENT, {"budget": hourly}, T0, SETTINGS, TAXONOMY, SKILLS)
    assert job.details["budget"]["max"] == usd(7000).to_dict()


def test_budget_type_may_change_when_all_proposals_were_withdrawn():
    job = given(open_events())
    job.note_proposal_received("prop-1", "freelancer-1", T0, SETTINGS)
    job.note_proposal_withdrawn("prop-1", T0)
    job.update(
        CLIENT, {"budget": {"type": "fixed", "amount": usd(1)}}, T0, SETTINGS, TAXONOMY, SKILLS
    )
    assert job.details["budget"]["type"] == "fixed"


# --- close --------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["no_hire", "cancelled"])
def test_owner_closes_an_open_job(reason):
    job = given(open_events())
    job.close(CLIENT, reason, T0, note="Found someone offline")
    [(kind, data)] = then(job)
    assert kind == "JobClosed"
    assert data == {
        "job_id": "job-1",
        "client_id": "client-1",
        "reason": reason,
        "note": "Found someone offline",
        "closed_by": "client-1",
        "closed_at": iso(T0),
    }
    assert (job.status, job.close_reason) == ("closed", reason)
    assert job.next_deadline() is None


def test_an_operator_may_close_any_job():
    job = given(open_events())
    job.close(OPERATOR, "cancelled", T0)
    assert then(job)[0][1]["closed_by"] == "operator-1"


def test_others_may_not_close():
    job = given(open_events())
    with pytest.raises(Forbidden):
        job.close(OTHER_CLIENT, "cancelled", T0)


def test_a_draft_can_only_be_cancelled():
    job = given(draft_events())
    with pytest.raises(Conflict):
        job.close(CLIENT, "no_hire", T0)
    job.close(CLIENT, "cancelled", T0)
    assert job.close_reason == "cancelled"


@pytest.mark.parametrize("reason", ["filled", "expired", "bored"])
def test_people_cannot_close_as_filled_or_expired(reason):
    job = given(open_events())
    with pytest.raises(ValidationError):
        job.close(CLIENT, reason, T0)


def test_closing_twice_is_a_conflict():
    job = given(open_events())
    job.close(CLIENT, "no_hire", T0)
    with pytest.raises(Conflict):
        job.close(CLIENT, "cancelled", T0)


def test_closing_an_unknown_job_is_not_found():
    with pytest.raises(NotFound):
        Job("nope").close(OPERATOR, "cancelled", T0)


# --- proposals (reported by bidding) ---------------------------------------------------


def test_a_proposal_counts_and_is_activity():
    job = given(open_events())
    later = T0 + SECOND * 86400
    job.note_proposal_received("prop-1", "freelancer-1", later, SETTINGS)
    [(kind, data)] = then(job)
    assert kind == "JobProposalReceived"
    assert data["expires_at"] == iso(later + SETTINGS.expire_after)
    assert job.active_proposal_count == 1


def test_the_same_proposal_delivered_twice_counts_once():
    job = given(open_events())
    job.note_proposal_received("prop-1", "freelancer-1", T0, SETTINGS)
    assert job.note_proposal_received("prop-1", "freelancer-1", T0, SETTINGS) == []
    assert job.active_proposal_count == 1


def test_a_proposal_on_a_closed_job_counts_but_restarts_nothing():
    job = given(open_events())
    job.close(CLIENT, "no_hire", T0)
    job.take_pending()
    job.note_proposal_received("prop-1", "freelancer-1", T0, SETTINGS)
    [(_, data)] = then(job)
    assert data["expires_at"] is None
    assert job.status == "closed"


def test_a_draft_takes_no_proposals():
    job = given(draft_events())
    with pytest.raises(Conflict):
        job.note_proposal_received("prop-1", "freelancer-1", T0, SETTINGS)


def test_withdrawal_counts_down_once_and_ignores_unknown_proposals():
    job = given(open_events())
    job.note_proposal_received("prop-1", "freelancer-1", T0, SETTINGS)
    job.take_pending()
    job.note_proposal_withdrawn("prop-1", T0)
    assert [kind for kind, _ in then(job)] == ["JobProposalWithdrawn"]
    assert job.note_proposal_withdrawn("prop-1", T0) == []
    assert job.note_proposal_withdrawn("prop-9", T0) == []
    assert job.active_proposal_count == 0


# --- hires (reported by escrow) -----------------------------------------------------------


def test_a_contract_fills_an_open_job():
    job = given(open_events())
    job.record_hire("contract-1", "freelancer-1", T0)
    [(kind, data)] = then(job)
    assert kind == "JobFilled"
    assert data["contract_id"] == "contract-1" and data["previous_status"] == "open"
    assert (job.status, job.close_reason) == ("closed", "filled")


def test_the_same_contract_delivered_twice_fills_once():
    events = open_events()
    job = given(events)
    job.record_hire("contract-1", "freelancer-1", T0)
    replayed = given(events + history(job))
    assert replayed.record_hire("contract-1", "freelancer-1", T0) == []
    assert replayed.pending == []


def test_a_second_contract_adds_a_hire():
    job = given(open_events())
    job.record_hire("contract-1", "freelancer-1", T0)
    job.take_pending()
    job.record_hire("contract-2", "freelancer-2", T0)
    assert [kind for kind, _ in then(job)] == ["JobHireAdded"]
    assert len(job.hires) == 2


@pytest.mark.parametrize("how", ["no_hire", "cancelled", "expired"])
def test_a_contract_on_a_closed_job_still_fills_it(how):
    job = given(open_events())
    if how == "expired":
        job.check_deadlines(T0 + SETTINGS.expire_after)
    else:
        job.close(CLIENT, how, T0)
    job.take_pending()
    job.record_hire("contract-1", "freelancer-1", T0)
    [(kind, data)] = then(job)
    assert kind == "JobFilled" and data["previous_reason"] == how
    assert job.close_reason == "filled"


def test_a_draft_cannot_have_a_contract():
    with pytest.raises(Conflict):
        given(draft_events()).record_hire("contract-1", "freelancer-1", T0)
    with pytest.raises(NotFound):
        Job("nope").record_hire("contract-1", "freelancer-1", T0)


def test_replaying_the_log_rebuilds_the_same_state():
    job = given(open_events())
    job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)
    job.note_proposal_received("prop-1", "freelancer-1", T0 + SECOND, SETTINGS)
    job.record_hire("contract-1", "freelancer-1", T0 + SECOND * 2)
    events = open_events() + history(job)
    replayed = given(events)
    for name in ("status", "close_reason", "details", "invitations", "proposals", "hires"):
        assert getattr(replayed, name) == getattr(job, name)
    assert replayed.version == len(events)


def test_at_most_fifteen_known_skills():
    known = [f"Skill {n}" for n in range(16)]
    Job("job-1").create(CLIENT, details(skills=known[:15]), T0, TAXONOMY, known)
    with pytest.raises(ValidationError) as caught:
        Job("job-2").create(CLIENT, details(skills=known), T0, TAXONOMY, known)
    assert "skills" in caught.value.fields


def test_a_retired_skill_does_not_block_other_edits_but_cannot_be_set_again():
    job = given(open_events())
    today = [s for s in SKILLS if s != "Django"]
    job.update(CLIENT, {"title": "Build a Django booking website"}, T0, SETTINGS, TAXONOMY, today)
    with pytest.raises(ValidationError):
        job.update(CLIENT, {"skills": ["Python", "Django", "Go"]}, T0, SETTINGS, TAXONOMY, today)
