"""Invitations and who may see a job."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.jobs.domain import Actor
from services.jobs.settings import JobSettings
from shared.clock import iso
from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from tests.unit.jobs.helpers import (
    AUDITOR,
    CLIENT,
    FREELANCER,
    FREELANCER_2,
    OPERATOR,
    OTHER_CLIENT,
    SECOND,
    SETTINGS,
    T0,
    draft_events,
    given,
    open_events,
    then,
)


def test_invitation_is_recorded_and_is_activity():
    job = given(open_events())
    later = T0 + SECOND * 7200
    job.invite_freelancer(CLIENT, "freelancer-1", "Your portfolio fits", later, SETTINGS)
    [(kind, data)] = then(job)
    assert kind == "FreelancerInvited"
    assert data["freelancer_id"] == "freelancer-1"
    assert data["message"] == "Your portfolio fits"
    assert data["invited_by"] == "client-1"
    assert data["expires_at"] == iso(later + SETTINGS.expire_after)
    assert job.invitations == {"freelancer-1": "pending"}


def test_only_the_owner_invites():
    job = given(open_events())
    for actor in (OTHER_CLIENT, FREELANCER, OPERATOR):
        with pytest.raises(Forbidden):
            job.invite_freelancer(actor, "freelancer-2", None, T0, SETTINGS)


def test_invite_to_a_draft_or_closed_job_is_a_conflict():
    with pytest.raises(Conflict):
        given(draft_events()).invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)
    job = given(open_events())
    job.close(CLIENT, "no_hire", T0)
    with pytest.raises(Conflict):
        job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)


def test_no_self_invitation_and_no_suspended_invitee():
    job = given(open_events())
    with pytest.raises(ValidationError):
        job.invite_freelancer(CLIENT, "client-1", None, T0, SETTINGS)
    with pytest.raises(Conflict, match="suspended"):
        job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS, invitee_suspended=True)


def test_each_freelancer_is_invited_once():
    job = given(open_events())
    job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)
    with pytest.raises(Conflict):
        job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)


def test_invitation_message_is_bounded():
    job = given(open_events())
    with pytest.raises(ValidationError):
        job.invite_freelancer(CLIENT, "freelancer-1", "x" * 2001, T0, SETTINGS)


def test_invitation_limit_boundary():
    settings = replace(SETTINGS, max_invitations_per_job=3)
    job = given(open_events(settings=settings))
    for n in range(3):  # the limit itself is allowed
        job.invite_freelancer(CLIENT, f"freelancer-{n}", None, T0, settings)
    with pytest.raises(Conflict, match="at most 3"):
        job.invite_freelancer(CLIENT, "freelancer-9", None, T0, settings)


def test_invitee_declines_once():
    job = given(open_events())
    job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)
    job.take_pending()
    job.decline_invitation(FREELANCER, "Fully booked", T0)
    [(kind, data)] = then(job)
    assert kind == "InvitationDeclined"
    assert data["reason"] == "Fully booked" and data["freelancer_id"] == "freelancer-1"
    with pytest.raises(Conflict):
        job.decline_invitation(FREELANCER, None, T0)
    with pytest.raises(NotFound):
        job.decline_invitation(FREELANCER_2, None, T0)


def test_a_declined_freelancer_cannot_be_invited_again():
    job = given(open_events())
    job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)
    job.decline_invitation(FREELANCER, None, T0)
    with pytest.raises(Conflict):
        job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)


def test_a_proposal_from_an_invitee_answers_the_invitation():
    job = given(open_events())
    job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)
    job.note_proposal_received("prop-1", "freelancer-1", T0, SETTINGS)
    assert job.invitations["freelancer-1"] == "proposed"
    with pytest.raises(Conflict):
        job.decline_invitation(FREELANCER, None, T0)


def test_invitation_limit_settings_are_checked():
    with pytest.raises(ValueError):
        JobSettings(max_invitations_per_job=0)


# --- visibility -------------------------------------------------------------------------

SIGNED_IN = Actor("someone", frozenset({"freelancer"}))


@pytest.mark.parametrize(
    ("visibility", "viewer", "visible"),
    [
        ("public", None, True),
        ("public", SIGNED_IN, True),
        ("signed_in", None, False),
        ("signed_in", SIGNED_IN, True),
        ("invite_only", None, False),
        ("invite_only", SIGNED_IN, False),
        ("invite_only", FREELANCER, True),  # invited below
        ("invite_only", CLIENT, True),
        ("invite_only", OPERATOR, True),
        ("invite_only", AUDITOR, True),
    ],
)
def test_who_sees_an_open_job(visibility, viewer, visible):
    job = given(open_events(visibility=visibility))
    job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)
    assert job.can_view(viewer) is visible
    if not visible:
        with pytest.raises(NotFound):
            job.require_visible(viewer)


def test_a_draft_is_seen_only_by_its_owner_and_staff():
    job = given(draft_events())
    assert job.can_view(CLIENT) and job.can_view(OPERATOR)
    assert not job.can_view(None)
    assert not job.can_view(SIGNED_IN)
    assert not job.can_view(OTHER_CLIENT)


def test_invite_only_job_stays_visible_to_the_hired_freelancer_after_filling():
    job = given(open_events(visibility="invite_only"))
    job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)
    job.note_proposal_received("prop-1", "freelancer-1", T0, SETTINGS)
    job.record_hire("contract-1", "freelancer-1", T0)
    assert job.can_view(FREELANCER)
    assert not job.can_view(FREELANCER_2)


def test_an_unknown_job_is_seen_by_nobody():
    from services.jobs.domain import Job

    assert not Job("nope").can_view(OPERATOR)
