"""Rooms opened from bidding's and escrow's events, and who may read and write them."""

from __future__ import annotations

import pytest
from nameko.testing.services import entrypoint_hook

from services.messaging.domain import contract_room_id, direct_room_id, interview_room_id
from shared.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationError
from tests.messaging.conftest import wait_until

CLIENT, FREELANCER, STRANGER = "client-1", "freelancer-1", "stranger-1"


def test_an_interview_room_opens_once_even_when_the_event_repeats(messaging):
    event_id = messaging.proposal_messaged("p-1", "job-1", CLIENT, FREELANCER)
    # the same delivery again (same event id) and a twin event under a new id
    messaging.publish(
        "bidding",
        "ProposalMessaged",
        {
            "proposal_id": "p-1",
            "job_id": "job-1",
            "client_id": CLIENT,
            "freelancer_id": FREELANCER,
            "messaged_at": "2026-03-02T10:00:00+00:00",
        },
        stream="proposal-p-1",
        event_id=event_id,
    )
    messaging.proposal_messaged("p-1", "job-1", CLIENT, FREELANCER)
    wait_until(lambda: messaging.scalar("SELECT count(*) FROM processed_events") == 2)

    room_id = interview_room_id("p-1")
    assert messaging.scalar("SELECT count(*) FROM events WHERE type = 'RoomOpened'") == 1
    room = messaging.call(CLIENT, "get_room", room_id=room_id)
    assert room["kind"] == "interview"
    assert room["participants"] == sorted([CLIENT, FREELANCER])
    assert room["proposal_id"] == "p-1" and room["job_id"] == "job-1"
    listed = messaging.call(FREELANCER, "list_rooms", "freelancer")
    assert [r["room_id"] for r in listed["rooms"]] == [room_id]


def test_a_contract_room_opens_and_becomes_read_only_when_the_contract_ends(messaging):
    messaging.contract_opened("c-1", "job-1", CLIENT, FREELANCER)
    messaging.contract_opened("c-1", "job-1", CLIENT, FREELANCER)
    room_id = contract_room_id("c-1")
    sent = messaging.call(CLIENT, "send_message", room_id=room_id, body="welcome aboard")

    messaging.contract_ended("c-1", "job-1", CLIENT, FREELANCER)
    messaging.contract_ended("c-1", "job-1", CLIENT, FREELANCER)
    assert messaging.scalar("SELECT count(*) FROM events WHERE type = 'RoomOpened'") == 1
    assert messaging.scalar("SELECT count(*) FROM events WHERE type = 'RoomMadeReadOnly'") == 1

    room = messaging.call(CLIENT, "get_room", room_id=room_id)
    assert room["read_only"] is True
    with pytest.raises(Conflict):
        messaging.call(FREELANCER, "send_message", "freelancer", room_id=room_id, body="hi")
    with pytest.raises(Conflict):
        messaging.call(CLIENT, "edit_message", message_id=sent["message_id"], body="changed")
    # still readable for the record
    page = messaging.call(FREELANCER, "list_messages", "freelancer", room_id=room_id)
    assert [m["body"] for m in page["messages"]] == ["welcome aboard"]


def test_a_contract_end_that_overtakes_its_start_is_retried_until_the_room_exists(messaging):
    ended = messaging.contract_ended("c-2", "job-2", CLIENT, FREELANCER, wait=False)
    messaging.contract_opened("c-2", "job-2", CLIENT, FREELANCER)
    wait_until(lambda: messaging.processed(ended))
    room = messaging.call(CLIENT, "get_room", room_id=contract_room_id("c-2"))
    assert room["read_only"] is True
    assert messaging.scalar("SELECT count(*) FROM dead_letters") == 0


def test_an_event_with_fields_its_producer_does_not_record_is_parked(messaging):
    data = {
        "proposal_id": "p-9",
        "job_id": "job-9",
        "client_id": CLIENT,
        "freelancer_id": FREELANCER,
        "messaged_at": "2026-03-02T10:00:00+00:00",
        "surprise": 1,
    }
    messaging.publish("bidding", "ProposalMessaged", data, stream="proposal-p-9")
    wait_until(lambda: messaging.scalar("SELECT count(*) FROM dead_letters") == 1)
    error = messaging.scalar("SELECT error FROM dead_letters")
    assert "malformed event" in error and "surprise" in error
    assert messaging.log_length() == 0


def test_only_participants_read_or_write(messaging):
    messaging.proposal_messaged("p-1", "job-1", CLIENT, FREELANCER)
    room_id = interview_room_id("p-1")
    sent = messaging.call(CLIENT, "send_message", room_id=room_id, body="hello")
    before = messaging.log_length()
    for method, kwargs in [
        ("get_room", {"room_id": room_id}),
        ("list_messages", {"room_id": room_id}),
        ("send_message", {"room_id": room_id, "body": "let me in"}),
        ("mark_read", {"room_id": room_id, "message_id": sent["message_id"]}),
        ("upload_attachment", {"room_id": room_id, "filename": "a.txt", "content": "aGk="}),
    ]:
        with pytest.raises(Forbidden):
            messaging.call(STRANGER, method, **kwargs)
    # the other party may not change the sender's message either
    with pytest.raises(Forbidden):
        messaging.call(FREELANCER, "edit_message", message_id=sent["message_id"], body="x")
    with pytest.raises(Forbidden):
        messaging.call(FREELANCER, "delete_message", message_id=sent["message_id"])
    assert messaging.log_length() == before
    assert messaging.call(STRANGER, "list_rooms")["rooms"] == []


def test_an_unknown_room_is_not_found_and_anonymous_callers_are_refused(messaging):
    with pytest.raises(NotFound):
        messaging.call(CLIENT, "get_room", room_id="no-such-room")
    with entrypoint_hook(messaging.container, "list_rooms") as anonymous:
        with pytest.raises(NotAuthenticated):
            anonymous()


def test_a_direct_room_needs_a_shared_job_or_contract(messaging):
    with pytest.raises(Forbidden):
        messaging.call(CLIENT, "open_room", other_user_id=FREELANCER)
    with pytest.raises(ValidationError) as refused:
        messaging.call(CLIENT, "open_room", other_user_id=CLIENT)
    assert "other_user_id" in refused.value.fields
    assert messaging.log_length() == 0

    messaging.proposal_messaged("p-1", "job-1", CLIENT, FREELANCER)
    room = messaging.call(CLIENT, "open_room", other_user_id=FREELANCER)
    again = messaging.call(FREELANCER, "open_room", "freelancer", other_user_id=CLIENT)
    assert room["room_id"] == again["room_id"] == direct_room_id(CLIENT, FREELANCER)
    assert room["kind"] == "direct" and room["job_id"] == "job-1"
    assert messaging.scalar("SELECT count(*) FROM events WHERE type = 'RoomOpened'") == 2
    with pytest.raises(Forbidden):
        messaging.call(STRANGER, "get_room", room_id=room["room_id"])


def test_an_operator_reads_a_room_only_for_a_dispute_and_the_access_is_an_event(messaging):
    messaging.contract_opened("c-1", "job-1", CLIENT, FREELANCER)
    room_id = contract_room_id("c-1")
    with pytest.raises(Forbidden):
        messaging.call("op-1", "list_messages", "operator", room_id=room_id)
    with pytest.raises(ValidationError) as refused:
        messaging.call("op-1", "request_room_access", "operator", room_id=room_id, reason="look")
    assert "dispute_id" in refused.value.fields
    with pytest.raises(Forbidden):
        messaging.call(STRANGER, "request_room_access", room_id=room_id, reason="curious")

    granted = messaging.call(
        "op-1",
        "request_room_access",
        "operator",
        room_id=room_id,
        reason="dispute over milestone 1",
        dispute_id="d-1",
    )
    assert granted["role"] == "operator"
    data = messaging.scalar("SELECT data FROM events WHERE type = 'RoomReviewAccessGranted'")
    assert data["grantee_id"] == "op-1" and data["dispute_id"] == "d-1"
    assert messaging.call("op-1", "list_messages", "operator", room_id=room_id)["messages"] == []


def test_a_suspended_user_is_refused_once_identity_says_so(messaging):
    messaging.proposal_messaged("p-1", "job-1", CLIENT, FREELANCER)
    event_id = messaging.publish(
        "identity",
        "UserSuspended",
        {"user_id": CLIENT, "reason": "fraud", "by": "op-1", "suspended_at": None},
        stream=f"user-{CLIENT}",
    )
    wait_until(lambda: messaging.processed(event_id))
    with pytest.raises(NotAuthenticated):
        messaging.call(CLIENT, "send_message", room_id=interview_room_id("p-1"), body="hi")
    assert messaging.call(FREELANCER, "list_rooms", "freelancer")["rooms"]
