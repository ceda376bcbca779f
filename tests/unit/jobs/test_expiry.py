"""The inactivity window: warning 5 days before, expiry after 30 days, each at T-1s, T, T+1s."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.jobs.settings import JobSettings
from shared.clock import iso
from tests.unit.jobs.helpers import (
    CLIENT,
    FREELANCER,
    SECOND,
    SETTINGS,
    SKILLS,
    T0,
    TAXONOMY,
    given,
    history,
    open_events,
    then,
)

EXPIRES = T0 + SETTINGS.expire_after
WARNS = EXPIRES - SETTINGS.warn_before


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (WARNS - SECOND, []),
        (WARNS, ["JobExpiryWarned"]),
        (WARNS + SECOND, ["JobExpiryWarned"]),
        (EXPIRES - SECOND, ["JobExpiryWarned"]),
    ],
)
def test_warning_boundary(at, expected):
    job = given(open_events())
    job.check_deadlines(at)
    assert [kind for kind, _ in then(job)] == expected


def test_warning_names_the_deadline_and_is_given_once():
    job = given(open_events())
    job.check_deadlines(WARNS)
    [(_, data)] = then(job)
    assert data == {
        "job_id": "job-1",
        "client_id": "client-1",
        "expires_at": iso(EXPIRES),
        "warned_at": iso(WARNS),
    }
    assert job.check_deadlines(WARNS + SECOND) == []
    assert job.next_deadline() == EXPIRES


@pytest.mark.parametrize(
    ("at", "expired"),
    [(EXPIRES - SECOND, False), (EXPIRES, True), (EXPIRES + SECOND, True)],
)
def test_expiry_boundary(at, expired):
    job = given(open_events())
    job.check_deadlines(WARNS)
    job.take_pending()
    job.check_deadlines(at)
    kinds = [kind for kind, _ in then(job)]
    assert kinds == (["JobExpired"] if expired else [])
    assert (job.status == "closed") is expired


def test_expiry_records_deadline_and_last_activity():
    job = given(open_events())
    job.check_deadlines(EXPIRES + SECOND * 60)
    [(kind, data)] = then(job)
    assert kind == "JobExpired"
    assert data["expires_at"] == iso(EXPIRES)
    assert data["expired_at"] == iso(EXPIRES + SECOND * 60)
    assert data["last_activity_at"] == iso(T0)
    assert job.close_reason == "expired"


def test_a_late_timer_that_missed_the_warning_expires_straight_away():
    job = given(open_events())
    job.check_deadlines(EXPIRES)
    assert [kind for kind, _ in then(job)] == ["JobExpired"]


@pytest.mark.parametrize("activity", ["edit", "invite", "proposal"])
def test_activity_restarts_the_window_and_the_warning(activity):
    job = given(open_events())
    job.check_deadlines(WARNS)  # warned
    moment = WARNS + SECOND
    if activity == "edit":
        job.update(CLIENT, {"contract_to_hire": True}, moment, SETTINGS, TAXONOMY, SKILLS)
    elif activity == "invite":
        job.invite_freelancer(CLIENT, "freelancer-1", None, moment, SETTINGS)
    else:
        job.note_proposal_received("prop-1", "freelancer-1", moment, SETTINGS)
    job.take_pending()
    new_expiry = moment + SETTINGS.expire_after
    assert job.check_deadlines(EXPIRES) == []  # the old deadline no longer holds
    assert job.next_deadline() == new_expiry - SETTINGS.warn_before
    assert job.check_deadlines(new_expiry - SETTINGS.warn_before - SECOND) == []
    job.check_deadlines(new_expiry - SETTINGS.warn_before)
    assert [kind for kind, _ in then(job)] == ["JobExpiryWarned"]
    assert job.check_deadlines(new_expiry - SECOND) == []
    job.check_deadlines(new_expiry)
    assert [kind for kind, _ in then(job)] == ["JobExpired"]


def test_declining_or_withdrawing_is_not_activity():
    job = given(open_events())
    job.invite_freelancer(CLIENT, "freelancer-1", None, T0, SETTINGS)
    job.note_proposal_received("prop-1", "freelancer-2", T0, SETTINGS)
    job.take_pending()
    job.decline_invitation(FREELANCER, None, T0 + timedelta(days=10))
    job.note_proposal_withdrawn("prop-1", T0 + timedelta(days=11))
    assert job.expires_at == EXPIRES


def test_a_replay_keeps_the_window_recorded_when_the_setting_changes():
    short = JobSettings(expire_after=timedelta(days=7), warn_before=timedelta(days=1))
    events = open_events(settings=short)
    job = given(events)  # folded while today's settings are the 30-day defaults
    assert job.expires_at == T0 + timedelta(days=7)
    assert job.check_deadlines(T0 + timedelta(days=6) - SECOND) == []
    job.check_deadlines(T0 + timedelta(days=6))
    assert [kind for kind, _ in then(job)] == ["JobExpiryWarned"]
    job.check_deadlines(T0 + timedelta(days=7))
    assert [kind for kind, _ in then(job)] == ["JobExpired"]


def test_closed_jobs_have_no_deadline():
    job = given(open_events())
    job.close(CLIENT, "cancelled", T0)
    assert job.next_deadline() is None
    assert job.check_deadlines(EXPIRES + SECOND) == []


def test_next_deadline_is_the_warning_first():
    job = given(open_events())
    assert job.next_deadline() == WARNS
    job.check_deadlines(WARNS)
    replayed = given(open_events() + history(job))
    assert replayed.next_deadline() == EXPIRES


@pytest.mark.parametrize(
    ("expire_after", "warn_before"),
    [
        (timedelta(0), timedelta(days=1)),
        (timedelta(days=5), timedelta(days=5)),
        (timedelta(days=5), timedelta(0)),
    ],
)
def test_settings_refuse_impossible_windows(expire_after, warn_before):
    with pytest.raises(ValueError):
        JobSettings(expire_after=expire_after, warn_before=warn_before)
