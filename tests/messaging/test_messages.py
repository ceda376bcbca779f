"""Messages: sending, bad input that writes nothing, edit/delete windows on the manual
clock, the auditor's version history, idempotency keys, paging and read receipts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.messaging.domain import interview_room_id
from shared.clock import manual_clock
from shared.errors import Conflict, Forbidden, NotFound, ValidationError

CLIENT, FREELANCER, AUDITOR = "client-1", "freelancer-1", "auditor-1"


@pytest.fixture
def room_id(messaging):
    messaging.proposal_messaged("p-1", "job-1", CLIENT, FREELANCER)
    return interview_room_id("p-1")


def send(messaging, room_id, body, user=CLIENT, **kwargs):
    return messaging.call(user, "send_message", room_id=room_id, body=body, **kwargs)


def test_a_message_is_sent_listed_and_published_as_an_event(messaging, room_id):
    sent = send(messaging, room_id, "Can you start Monday?")
    assert sent["body"] == "Can you start Monday?"
    assert sent["sender_id"] == CLIENT and not sent["edited"] and not sent["deleted"]
    page = messaging.call(FREELANCER, "list_messages", "freelancer", room_id=room_id)
    assert page == {"messages": [sent], "next_cursor": None}
    event = messaging.rows(
        "SELECT type, data FROM events WHERE stream = %s", (f"message-{sent['message_id']}",)
    )
    assert event == [("MessageSent", event[0][1])]
    assert event[0][1]["edit_window_seconds"] == 900


@pytest.mark.parametrize(
    ("kwargs", "field", "error"),
    [
        ({"body": ""}, "body", ValidationError),
        ({"body": "   \n"}, "body", ValidationError),
        ({"body": "x" * 10_001}, "body", ValidationError),
        ({"body": "x" * 20_001}, "body", ValidationError),
        (
            {"body": "hi", "attachment_ids": ["no-such-attachment"]},
            "attachment_ids",
            ValidationError,
        ),
        ({"body": "hi", "colour": "red"}, "colour", ValidationError),
    ],
)
def test_bad_input_gets_a_clear_error_and_writes_nothing(messaging, room_id, kwargs, field, error):
    before = messaging.log_length()
    with pytest.raises(error) as refused:
        messaging.call(CLIENT, "send_message", room_id=room_id, **kwargs)
    assert field in refused.value.fields
    assert messaging.log_length() == before


def test_an_unknown_room_and_someone_elses_attachment_write_nothing(messaging, room_id):
    upload = messaging.call(
        FREELANCER,
        "upload_attachment",
        "freelancer",
        room_id=room_id,
        filename="cv.txt",
        content="bXkgY3Y=",
    )
    before = messaging.log_length()
    with pytest.raises(NotFound):
        send(messaging, "no-such-room", "hello")
    with pytest.raises(ValidationError) as refused:
        send(messaging, room_id, "look", attachment_ids=[upload["attachment_id"]])
    assert "not yours" in str(refused.value.fields["attachment_ids"])
    assert messaging.log_length() == before


def test_edits_and_deletes_within_the_window_and_refused_beyond_it(messaging, room_id):
    first = send(messaging, room_id, "draft one")
    second = send(messaging, room_id, "draft two")

    manual_clock.advance(seconds=900)  # the window's last instant is still inside
    edited = messaging.call(CLIENT, "edit_message", message_id=first["message_id"], body="final")
    assert edited["body"] == "final" and edited["edited"] is True

    manual_clock.advance(seconds=1)  # T+901: closed
    before = messaging.log_length()
    with pytest.raises(Conflict):
        messaging.call(CLIENT, "edit_message", message_id=first["message_id"], body="later")
    with pytest.raises(Conflict):
        messaging.call(CLIENT, "delete_message", message_id=second["message_id"])
    assert messaging.log_length() == before

    third = send(messaging, room_id, "oops, wrong room")
    manual_clock.advance(seconds=60)
    deleted = messaging.call(CLIENT, "delete_message", message_id=third["message_id"])
    assert deleted["deleted"] is True and deleted["body"] is None
    with pytest.raises(Conflict):
        messaging.call(CLIENT, "delete_message", message_id=third["message_id"])

    page = messaging.call(FREELANCER, "list_messages", "freelancer", room_id=room_id)
    shown = [(m["body"], m["edited"], m["deleted"]) for m in page["messages"]]
    assert shown == [(None, False, True), ("draft two", False, False), ("final", True, False)]


def test_the_full_version_history_is_visible_to_an_auditor_only(messaging, room_id):
    sent = send(messaging, room_id, "v1")
    messaging.call(CLIENT, "edit_message", message_id=sent["message_id"], body="v2")
    messaging.call(CLIENT, "delete_message", message_id=sent["message_id"])

    with pytest.raises(Forbidden):
        messaging.call(CLIENT, "message_history", message_id=sent["message_id"])
    with pytest.raises(Forbidden):
        messaging.call(AUDITOR, "message_history", "auditor", message_id=sent["message_id"])
    messaging.call(AUDITOR, "request_room_access", "auditor", room_id=room_id, reason="audit")
    history = messaging.call(AUDITOR, "message_history", "auditor", message_id=sent["message_id"])
    assert [(v["action"], v["body"], v["revision"]) for v in history["versions"]] == [
        ("sent", "v1", 1),
        ("edited", "v2", 2),
        ("deleted", "v2", 2),
    ]
    # the access lasts the review window; after it, the auditor is refused again
    manual_clock.advance(timedelta(days=7, seconds=1))
    with pytest.raises(Forbidden):
        messaging.call(AUDITOR, "message_history", "auditor", message_id=sent["message_id"])


def test_an_idempotency_key_replays_the_first_result_and_refuses_other_arguments(
    messaging, room_id
):
    first = send(messaging, room_id, "once", idempotency_key="k-1")
    again = send(messaging, room_id, "once", idempotency_key="k-1")
    assert again == first
    assert messaging.scalar("SELECT count(*) FROM events WHERE type = 'MessageSent'") == 1
    with pytest.raises(Conflict):
        send(messaging, room_id, "twice", idempotency_key="k-1")
    # another caller's key is their own
    other = send(messaging, room_id, "once", user=FREELANCER, idempotency_key="k-1")
    assert other["message_id"] != first["message_id"]


def test_listing_pages_newest_first_without_gaps_or_duplicates_while_messages_arrive(
    messaging, room_id
):
    sent = [send(messaging, room_id, f"m{i}")["message_id"] for i in range(12)]
    seen, cursor, arrived = [], None, []
    while True:
        page = messaging.call(
            FREELANCER, "list_messages", "freelancer", room_id=room_id, before=cursor, limit=5
        )
        seen += [m["message_id"] for m in page["messages"]]
        # new messages land while the client pages
        arrived.append(send(messaging, room_id, f"late {len(arrived)}")["message_id"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(sent))
    newest = messaging.call(FREELANCER, "list_messages", "freelancer", room_id=room_id, limit=3)
    assert [m["message_id"] for m in newest["messages"]] == list(reversed(arrived))
    with pytest.raises(ValidationError) as refused:
        messaging.call(CLIENT, "list_messages", room_id=room_id, before="abc")
    assert "before" in refused.value.fields


def test_read_receipts_count_unread_and_order_rooms_by_latest_activity(messaging, room_id):
    messaging.proposal_messaged("p-2", "job-2", CLIENT, FREELANCER)
    other_room = interview_room_id("p-2")
    a = send(messaging, room_id, "one")
    send(messaging, room_id, "two")
    send(messaging, room_id, "mine", user=FREELANCER)
    rooms = messaging.call(FREELANCER, "list_rooms", "freelancer")["rooms"]
    assert [r["room_id"] for r in rooms] == [room_id, other_room]
    assert rooms[0]["unread_count"] == 2 and rooms[0]["message_count"] == 3

    read = messaging.call(
        FREELANCER, "mark_read", "freelancer", room_id=room_id, message_id=a["message_id"]
    )
    assert read["unread_count"] == 1
    before = messaging.log_length()
    # an older receipt never moves the position back
    messaging.call(
        FREELANCER, "mark_read", "freelancer", room_id=room_id, message_id=a["message_id"]
    )
    assert messaging.log_length() == before

    send(messaging, other_room, "over here")
    rooms = messaging.call(FREELANCER, "list_rooms", "freelancer", limit=1)
    assert [r["room_id"] for r in rooms["rooms"]] == [other_room]
    rest = messaging.call(FREELANCER, "list_rooms", "freelancer", before=rooms["next_cursor"])
    assert [r["room_id"] for r in rest["rooms"]] == [room_id] and rest["next_cursor"] is None

    with pytest.raises(ValidationError) as refused:
        messaging.call(
            FREELANCER, "mark_read", "freelancer", room_id=other_room, message_id=a["message_id"]
        )
    assert "message_id" in refused.value.fields
