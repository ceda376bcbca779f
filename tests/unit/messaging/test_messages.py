"""Messages: send, edit and delete within their recorded windows, every version kept."""

from __future__ import annotations

import pytest
from hypothesis import given as hgiven
from hypothesis import strategies as st

from services.messaging.domain import Message
from services.messaging.settings import MessagingSettings
from shared.clock import iso
from shared.errors import Conflict, Forbidden, NotFound, ValidationError

from .helpers import (
    CLIENT,
    FREELANCER,
    SECOND,
    SETTINGS,
    STRANGER,
    T0,
    attached,
    contract_room,
    message_sent,
    pending,
    read_only_event,
    sent_message,
    uploaded,
)
from .helpers import given as given_events

ROOM = contract_room()


def send(body="hello", attachments=(), actor=FREELANCER, room=ROOM, settings=SETTINGS, now=T0):
    message = Message("message-1")
    message.send(
        room=room,
        actor_id=actor,
        body=body,
        attachments=list(attachments),
        settings=settings,
        now=now,
    )
    return message


class TestSend:
    def test_a_participant_sends_text(self):
        assert pending(send()) == [message_sent()]

    def test_the_windows_in_force_are_recorded(self):
        settings = MessagingSettings(edit_window_seconds=60, delete_window_seconds=30)
        data = pending(send(settings=settings))[0][1]
        assert (data["edit_window_seconds"], data["delete_window_seconds"]) == (60, 30)

    def test_a_stranger_cannot_send(self):
        with pytest.raises(Forbidden):
            send(actor=STRANGER)

    def test_nobody_sends_in_a_read_only_room(self):
        with pytest.raises(Conflict):
            send(room=contract_room(read_only_event()))

    @pytest.mark.parametrize("body", ["", "   ", "\n\t"])
    def test_an_empty_body_without_attachment_is_refused(self, body):
        with pytest.raises(ValidationError) as err:
            send(body=body)
        assert "body" in err.value.fields

    @pytest.mark.parametrize(("length", "ok"), [(99, True), (100, True), (101, False)])
    def test_the_body_length_limit(self, length, ok):
        settings = MessagingSettings(max_body_chars=100)
        if ok:
            send(body="x" * length, settings=settings)
        else:
            with pytest.raises(ValidationError):
                send(body="x" * length, settings=settings)

    def test_nul_characters_are_refused(self):
        with pytest.raises(ValidationError):
            send(body="a\x00b")

    def test_an_unknown_room_is_not_found(self):
        from services.messaging.domain import Room

        with pytest.raises(NotFound):
            send(room=Room("nope"))

    def test_a_message_id_is_used_once(self):
        with pytest.raises(Conflict):
            sent_message().send(
                room=ROOM, actor_id=FREELANCER, body="x", attachments=[], settings=SETTINGS, now=T0
            )


class TestSendWithAttachments:
    def test_an_attachment_alone_is_a_message_and_is_bound_to_it(self):
        attachment = uploaded()
        message = send(body="", attachments=[attachment])
        assert pending(message) == [message_sent(body="", attachment_ids=("attachment-1",))]
        assert pending(attachment) == [attached()]

    def test_someone_elses_attachment_is_refused_and_nothing_is_recorded(self):
        mine = uploaded(attachment_id="a-mine")
        theirs = uploaded(attachment_id="a-theirs", uploader=CLIENT)
        message = Message("message-1")
        with pytest.raises(ValidationError) as err:
            message.send(
                room=ROOM,
                actor_id=FREELANCER,
                body="see files",
                attachments=[mine, theirs],
                settings=SETTINGS,
                now=T0,
            )
        assert "not yours" in err.value.fields["attachment_ids"][0]
        assert pending(message) == [] and pending(mine) == [] and pending(theirs) == []

    def test_an_unknown_attachment_is_refused(self):
        from services.messaging.domain import Attachment

        with pytest.raises(ValidationError, match="invalid input"):
            send(attachments=[Attachment("ghost")])

    def test_an_attachment_from_another_room_is_refused(self):
        elsewhere = uploaded(room_id="another-room")
        with pytest.raises(ValidationError):
            send(attachments=[elsewhere])

    def test_an_attachment_goes_on_one_message_only(self):
        used = uploaded(attached("message-0"))
        with pytest.raises(ValidationError):
            send(attachments=[used])

    def test_the_same_attachment_twice_is_refused(self):
        a = uploaded()
        with pytest.raises(ValidationError):
            send(attachments=[a, a])

    def test_the_attachment_count_limit(self):
        settings = MessagingSettings(max_attachments_per_message=1)
        files = [uploaded(attachment_id="a1"), uploaded(attachment_id="a2")]
        with pytest.raises(ValidationError):
            send(attachments=files, settings=settings)


class TestEditWindow:
    @pytest.mark.parametrize(
        ("offset", "allowed"), [(-1, True), (0, True), (1, False)], ids=["T-1s", "T", "T+1s"]
    )
    def test_edit_at_the_window_boundary(self, offset, allowed):
        message = sent_message()
        at = T0 + 900 * SECOND + offset * SECOND
        if allowed:
            message.edit(room=ROOM, actor_id=FREELANCER, body="hello!", settings=SETTINGS, now=at)
            assert pending(message) == [
                (
                    "MessageEdited",
                    {
                        "message_id": "message-1",
                        "room_id": ROOM.id,
                        "editor_id": FREELANCER,
                        "body": "hello!",
                        "revision": 2,
                        "edited_at": iso(at),
                    },
                )
            ]
        else:
            with pytest.raises(Conflict, match="edit window"):
                message.edit(
                    room=ROOM, actor_id=FREELANCER, body="hello!", settings=SETTINGS, now=at
                )
            assert pending(message) == []

    def test_the_window_recorded_at_sending_wins_over_todays_configuration(self):
        message = sent_message(edit_window=60)
        longer = MessagingSettings(edit_window_seconds=3600)
        with pytest.raises(Conflict):
            message.edit(
                room=ROOM, actor_id=FREELANCER, body="x", settings=longer, now=T0 + 61 * SECOND
            )

    def test_only_the_sender_edits(self):
        with pytest.raises(Forbidden):
            sent_message().edit(room=ROOM, actor_id=CLIENT, body="x", settings=SETTINGS, now=T0)

    def test_a_deleted_message_cannot_be_edited(self):
        message = sent_message(
            ("MessageDeleted", {"deleted_by": FREELANCER, "deleted_at": iso(T0)})
        )
        with pytest.raises(Conflict):
            message.edit(room=ROOM, actor_id=FREELANCER, body="x", settings=SETTINGS, now=T0)

    def test_no_edits_once_the_room_is_read_only(self):
        with pytest.raises(Conflict, match="read-only"):
            sent_message().edit(
                room=contract_room(read_only_event()),
                actor_id=FREELANCER,
                body="x",
                settings=SETTINGS,
                now=T0,
            )

    def test_the_same_text_records_nothing(self):
        message = sent_message()
        message.edit(room=ROOM, actor_id=FREELANCER, body="hello", settings=SETTINGS, now=T0)
        assert pending(message) == []

    def test_an_edit_may_not_empty_a_text_only_message(self):
        with pytest.raises(ValidationError):
            sent_message().edit(room=ROOM, actor_id=FREELANCER, body=" ", settings=SETTINGS, now=T0)

    def test_an_edit_may_empty_the_caption_of_an_attachment(self):
        message = sent_message(attachment_ids=("attachment-1",))
        message.edit(room=ROOM, actor_id=FREELANCER, body="", settings=SETTINGS, now=T0)
        assert pending(message)[0][1]["body"] == ""

    def test_an_unknown_message_is_not_found(self):
        with pytest.raises(NotFound):
            Message("nope").edit(
                room=ROOM, actor_id=FREELANCER, body="x", settings=SETTINGS, now=T0
            )

    def test_every_version_is_kept(self):
        message = sent_message()
        for i, body in enumerate(["v2", "v3"], start=1):
            at = T0 + i * SECOND
            message.edit(room=ROOM, actor_id=FREELANCER, body=body, settings=SETTINGS, now=at)
        assert [(r, b) for r, b, _ in message.versions] == [(1, "hello"), (2, "v2"), (3, "v3")]
        assert message.body == "v3" and message.revision == 3


class TestDeleteWindow:
    @pytest.mark.parametrize(
        ("offset", "allowed"), [(-1, True), (0, True), (1, False)], ids=["T-1s", "T", "T+1s"]
    )
    def test_delete_at_the_window_boundary(self, offset, allowed):
        message = sent_message(delete_window=300)
        at = T0 + 300 * SECOND + offset * SECOND
        if allowed:
            message.delete(room=ROOM, actor_id=FREELANCER, now=at)
            assert pending(message) == [
                (
                    "MessageDeleted",
                    {
                        "message_id": "message-1",
                        "room_id": ROOM.id,
                        "deleted_by": FREELANCER,
                        "deleted_at": iso(at),
                    },
                )
            ]
            assert message.deleted and message.body == "hello"  # the log keeps the text
        else:
            with pytest.raises(Conflict, match="delete window"):
                message.delete(room=ROOM, actor_id=FREELANCER, now=at)

    def test_only_the_sender_deletes(self):
        with pytest.raises(Forbidden):
            sent_message().delete(room=ROOM, actor_id=CLIENT, now=T0)

    def test_deleting_twice_is_a_conflict(self):
        message = sent_message()
        message.delete(room=ROOM, actor_id=FREELANCER, now=T0)
        with pytest.raises(Conflict):
            message.delete(room=ROOM, actor_id=FREELANCER, now=T0)

    def test_no_deletes_once_the_room_is_read_only(self):
        with pytest.raises(Conflict):
            sent_message().delete(
                room=contract_room(read_only_event()), actor_id=FREELANCER, now=T0
            )

    def test_a_stranger_cannot_delete(self):
        with pytest.raises(Forbidden):
            sent_message().delete(room=ROOM, actor_id=STRANGER, now=T0)


@hgiven(
    window=st.integers(min_value=0, max_value=7 * 24 * 3600),
    elapsed=st.integers(min_value=0, max_value=8 * 24 * 3600),
)
def test_edit_is_allowed_exactly_while_elapsed_is_within_the_window(window, elapsed):
    message = sent_message(edit_window=window)
    at = T0 + elapsed * SECOND
    try:
        message.edit(room=ROOM, actor_id=FREELANCER, body="changed", settings=SETTINGS, now=at)
        allowed = True
    except Conflict:
        allowed = False
    assert allowed is (elapsed <= window)


def test_replaying_the_recorded_events_gives_the_same_message():
    message = send(body="", attachments=[uploaded()])
    message.edit(room=ROOM, actor_id=FREELANCER, body="caption", settings=SETTINGS, now=T0)
    message.delete(room=ROOM, actor_id=FREELANCER, now=T0 + SECOND)
    replayed = given_events(Message, "message-1", *pending(message))
    assert (replayed.body, replayed.revision, replayed.deleted) == ("caption", 2, True)
    assert replayed.attachment_ids == ("attachment-1",)
