"""Invite-only visibility, and expiry driven by moving the manual clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.clock import manual_clock
from shared.errors import Conflict, Forbidden, NotFound
from tests.jobs.conftest import (
    CLIENT,
    FREELANCER,
    FREELANCER_2,
    OTHER_CLIENT,
    T0,
    create,
    wait_until,
)

SECOND = timedelta(seconds=1)
WARN_AT = T0 + timedelta(days=25)
EXPIRES_AT = T0 + timedelta(days=30)


def search_ids(jobs, as_):
    return [item["job_id"] for item in jobs.call("search_jobs", as_)["items"]]


def test_an_invite_only_job_is_seen_only_by_its_owner_and_invitees(jobs):
    job_id = create(jobs, visibility="invite_only")
    public_id = create(jobs)
    with pytest.raises(Forbidden):
        jobs.call("invite_freelancer", OTHER_CLIENT, job_id=job_id, freelancer_id="freelancer-1")
    jobs.call(
        "invite_freelancer", CLIENT, job_id=job_id, freelancer_id="freelancer-1", message="Hi"
    )
    with pytest.raises(Conflict):
        jobs.call("invite_freelancer", CLIENT, job_id=job_id, freelancer_id="freelancer-1")

    invited = jobs.call("get_job", FREELANCER, job_id=job_id)
    assert invited["my_invitation"] == "pending" and "invitations" not in invited
    for outsider in (FREELANCER_2, OTHER_CLIENT, None):
        with pytest.raises(NotFound):  # never Forbidden: the job's existence does not leak
            jobs.call("get_job", outsider, job_id=job_id)
    assert set(search_ids(jobs, FREELANCER)) == {job_id, public_id}
    assert search_ids(jobs, FREELANCER_2) == [public_id]
    assert search_ids(jobs, None) == [public_id]

    owner_view = jobs.call("get_job", CLIENT, job_id=job_id)
    assert owner_view["invitations"] == [{"freelancer_id": "freelancer-1", "status": "pending"}]
    jobs.call("decline_invitation", FREELANCER, job_id=job_id, reason="Fully booked")
    with pytest.raises(NotFound):
        jobs.call("decline_invitation", FREELANCER_2, job_id=job_id)
    assert jobs.call("get_job", CLIENT, job_id=job_id)["invitations"][0]["status"] == "declined"


def test_a_suspended_freelancer_cannot_be_invited(jobs):
    job_id = create(jobs)
    jobs.deliver(
        "identity",
        "UserSuspended",
        {
            "user_id": "freelancer-2",
            "reason": "spam",
            "by": "operator-1",
            "suspended_at": T0.isoformat(),
        },
    )
    wait_until(lambda: jobs.scalar("SELECT count(*) FROM suspended_users") == 1)
    wait_until(lambda: jobs.processed("note_member_suspended") == 1)  # its note is in the log
    before = jobs.log_length()
    with pytest.raises(Conflict):
        jobs.call("invite_freelancer", CLIENT, job_id=job_id, freelancer_id="freelancer-2")
    assert jobs.log_length() == before


def test_the_client_is_warned_five_days_before_and_the_job_expires_after_thirty(jobs):
    job_id = create(jobs)
    stream = f"job-{job_id}"

    manual_clock.set(WARN_AT - SECOND)
    jobs.fire_deadlines()
    assert jobs.event_types(stream) == ["JobCreated", "JobPublished"]

    manual_clock.set(WARN_AT)
    assert jobs.fire_deadlines() == 1
    assert jobs.event_types(stream)[-1] == "JobExpiryWarned"

    manual_clock.set(EXPIRES_AT - SECOND)
    jobs.fire_deadlines()
    assert jobs.event_types(stream)[-1] == "JobExpiryWarned"
    assert jobs.call("get_job", CLIENT, job_id=job_id)["status"] == "open"

    manual_clock.set(EXPIRES_AT)
    assert jobs.fire_deadlines() == 1
    assert jobs.event_types(stream)[-1] == "JobExpired"
    view = jobs.call("get_job", CLIENT, job_id=job_id)
    assert (view["status"], view["close_reason"]) == ("closed", "expired")
    assert jobs.call("search_jobs", None)["items"] == []

    manual_clock.set(EXPIRES_AT + SECOND)
    jobs.fire_deadlines()
    assert jobs.event_types(stream).count("JobExpired") == 1


def test_activity_restarts_the_expiry_window(jobs):
    job_id = create(jobs)
    manual_clock.set(T0 + timedelta(days=20))
    jobs.call("update_job", CLIENT, job_id=job_id, changes={"project_length": "3_to_6_months"})

    manual_clock.set(EXPIRES_AT)  # 30 days after publishing, 10 after the edit
    jobs.fire_deadlines()
    assert jobs.call("get_job", CLIENT, job_id=job_id)["status"] == "open"
    assert "JobExpired" not in jobs.event_types(f"job-{job_id}")

    manual_clock.set(T0 + timedelta(days=50))
    jobs.fire_deadlines()
    # the timer missed the warning of the new window (nobody ran it): it expires at once
    assert jobs.event_types(f"job-{job_id}")[-1] == "JobExpired"
    assert "JobExpiryWarned" not in jobs.event_types(f"job-{job_id}")
    assert jobs.call("get_job", CLIENT, job_id=job_id)["close_reason"] == "expired"
