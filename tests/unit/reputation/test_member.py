"""Member: facts from identity and jobs, each noted once."""

from __future__ import annotations

import pytest

from services.reputation.domain import Member
from shared.clock import iso
from shared.errors import Conflict

from .helpers import DAY, T0, EventLog, given, types


def registered():
    return (
        "MemberRegistered",
        {"roles": ["freelancer"], "registered_at": iso(T0), "source_event_id": "id-1"},
    )


def test_registration_is_noted_with_sorted_unique_roles():
    agg = given(Member, "u1", [])
    agg.note_registered(
        source_event_id="id-1", roles=["freelancer", "client", "freelancer"], registered_at=T0
    )
    [event] = agg.pending
    assert event.stream == "member-u1"
    assert event.data == {
        "roles": ["client", "freelancer"],
        "registered_at": iso(T0),
        "source_event_id": "id-1",
    }


def test_registration_consumed_twice_is_noted_once_and_another_conflicts():
    agg = given(Member, "u1", [registered()])
    agg.note_registered(source_event_id="id-1", roles=["freelancer"], registered_at=T0)
    assert agg.pending == []
    with pytest.raises(Conflict):
        agg.note_registered(source_event_id="id-2", roles=["client"], registered_at=T0)


def test_suspension_and_reinstatement():
    agg = given(Member, "u1", [registered()])
    agg.note_suspended(source_event_id="s1", reason="fraud", suspended_at=T0 + DAY)
    agg.note_suspended(source_event_id="s1", reason="fraud", suspended_at=T0 + DAY)
    agg.note_reinstated(source_event_id="r1", reinstated_at=T0 + 2 * DAY)
    agg.note_reinstated(source_event_id="r1", reinstated_at=T0 + 2 * DAY)
    assert types(agg) == ["MemberSuspended", "MemberReinstated"]
    assert agg.pending[0].data == {
        "reason": "fraud",
        "suspended_at": iso(T0 + DAY),
        "source_event_id": "s1",
    }


def test_reinstating_a_member_not_suspended_is_a_conflict():
    with pytest.raises(Conflict):
        given(Member, "u1", [registered()]).note_reinstated(source_event_id="r", reinstated_at=T0)


def test_payment_verification_is_noted_once():
    agg = given(Member, "u1", [])
    agg.note_payment_verified(source_event_id="v1", verified_at=T0)
    agg.note_payment_verified(source_event_id="v2", verified_at=T0 + DAY)
    assert types(agg) == ["PaymentVerificationNoted"]


def test_a_job_is_counted_once_even_from_two_events():
    agg = given(Member, "c1", [])
    agg.note_job_posted(source_event_id="j-e1", job_id="j1", posted_at=T0)
    agg.note_job_posted(source_event_id="j-e1", job_id="j1", posted_at=T0)
    agg.note_job_posted(source_event_id="j-e2", job_id="j1", posted_at=T0 + DAY)
    agg.note_job_posted(source_event_id="j-e3", job_id="j2", posted_at=T0 + DAY)
    assert [e.data["job_id"] for e in agg.pending] == ["j1", "j2"]


def test_member_history_knows_suspension_as_of_any_moment():
    log = EventLog()
    log.run(
        Member, "u1", "note_registered", source_event_id="a", roles=["client"], registered_at=T0
    )
    log.run(Member, "u1", "note_suspended", source_event_id="b", reason="x", suspended_at=T0 + DAY)
    log.run(Member, "u1", "note_reinstated", source_event_id="c", reinstated_at=T0 + 3 * DAY)
    history = log.member("u1")
    assert history.roles == ["client"]
    assert history.registered_at == T0
    assert not history.suspended_at(T0 + DAY - DAY / 86400)
    assert history.suspended_at(T0 + DAY)
    assert history.suspended_at(T0 + 3 * DAY - DAY / 86400)
    assert not history.suspended_at(T0 + 3 * DAY)
