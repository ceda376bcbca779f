"""Properties of the Job over random command sequences: plain-JSON events, faithful replay."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.jobs.domain import Job
from shared.errors import MarketplaceError
from shared.money import Money
from tests.unit.jobs.helpers import (
    CLIENT,
    FREELANCER,
    OPERATOR,
    SETTINGS,
    SKILLS,
    T0,
    TAXONOMY,
    Stored,
    details,
)

COMMANDS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "publish",
                "edit",
                "retype",
                "invite",
                "decline",
                "propose",
                "withdraw",
                "close",
                "cancel",
                "hire",
                "tick",
            ]
        ),
        st.integers(min_value=0, max_value=3),  # which freelancer / proposal / contract
        st.integers(min_value=0, max_value=40 * 86400),  # seconds to move the clock
    ),
    max_size=25,
)


def run(job: Job, command: str, n: int, now) -> None:
    if command == "publish":
        job.publish(CLIENT, now, SETTINGS)
    elif command == "edit":
        job.update(
            CLIENT, {"title": f"Build a booking site, take {n}"}, now, SETTINGS, TAXONOMY, SKILLS
        )
    elif command == "retype":
        job.update(
            CLIENT,
            {"budget": {"type": "fixed", "amount": Money(1000 + n, "USD")}},
            now,
            SETTINGS,
            TAXONOMY,
            SKILLS,
        )
    elif command == "invite":
        job.invite_freelancer(CLIENT, f"freelancer-{n}", None, now, SETTINGS)
    elif command == "decline":
        job.decline_invitation(FREELANCER, None, now)
    elif command == "propose":
        job.note_proposal_received(f"prop-{n}", f"freelancer-{n}", now, SETTINGS)
    elif command == "withdraw":
        job.note_proposal_withdrawn(f"prop-{n}", now)
    elif command == "close":
        job.close(CLIENT, "no_hire", now)
    elif command == "cancel":
        job.close(OPERATOR, "cancelled", now)
    elif command == "hire":
        job.record_hire(f"contract-{n}", f"freelancer-{n}", now)
    else:
        job.check_deadlines(now)


def contains_float(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(contains_float(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_float(v) for v in value)
    return False


@given(COMMANDS)
@settings(max_examples=200, deadline=None)
def test_events_are_plain_json_and_replay_to_the_same_state(commands):
    job = Job("job-1")
    job.create(CLIENT, details(), T0, TAXONOMY, SKILLS)
    now = T0
    for command, n, step in commands:
        now += timedelta(seconds=step)
        before = (job.version, len(job.pending))
        try:
            run(job, command, n, now)
        except MarketplaceError:
            # A refused command records nothing.
            assert (job.version, len(job.pending)) == before
    events = job.take_pending()
    stored = [Stored(e.type, json.loads(json.dumps(e.data)), i + 1) for i, e in enumerate(events)]
    for event in events:
        assert json.loads(json.dumps(event.data)) == event.data
        assert not contains_float(event.data)
        assert event.stream == "job-job-1"
    replayed = Job.rehydrate("job-1", stored)
    for name in (
        "status",
        "close_reason",
        "details",
        "invitations",
        "proposals",
        "hires",
        "expires_at",
        "expiry_warning_at",
        "expiry_warned",
    ):
        assert getattr(replayed, name) == getattr(job, name), name
    # A job that has closed never reopens.
    statuses = [e.type for e in events]
    if "JobClosed" in statuses or "JobExpired" in statuses or "JobFilled" in statuses:
        assert replayed.status == "closed"
