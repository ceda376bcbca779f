"""Read models: room list by activity, unread counts, pagination, history."""

from __future__ import annotations

import pytest
from hypothesis import given as hgiven
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from services.messaging.domain import contract_room_id, interview_room_id
from services.messaging.projections import (
    MessagingReadModel,
    decode_cursor,
    encode_cursor,
    message_history,
)
from shared.clock import iso
from shared.errors import ValidationError

from .helpers import (
    CLIENT,
    FREELANCER,
    JOB,
    SECOND,
    STRANGER,
    T0,
    Stored,
    attached,
    attachment_uploaded,
    message_sent,
    read_only_event,
    room_opened,
)

ROOM = contract_room_id("contract-1")


class Log:
    """Events with global positions handed out in order, as the store does."""

    def __init__(self):
        self.events: list[Stored] = []

    def add(self, event: tuple[str, dict]) -> Stored:
        stored = Stored(event[0], event[1], position=len(self.events) + 1)
        self.events.append(stored)
        return stored


def send(log: Log, n: int, sender: str = FREELANCER, room_id: str = ROOM) -> Stored:
    event = message_sent(f"m{n}", sender=sender, body=f"body {n}", at=T0 + n * SECOND)
    event[1]["room_id"] = room_id
    return log.add(event)


def model_of(log: Log) -> MessagingReadModel:
    return MessagingReadModel().apply_all(log.events)


def edited(message_id: str, body: str, revision: int = 2):
    return (
        "MessageEdited",
        {
            "message_id": message_id,
            "room_id": ROOM,
            "editor_id": FREELANCER,
            "body": body,
            "revision": revision,
            "edited_at": iso(T0 + 5 * SECOND),
        },
    )


def deleted(message_id: str):
    return (
        "MessageDeleted",
        {
            "message_id": message_id,
            "room_id": ROOM,
            "deleted_by": FREELANCER,
            "deleted_at": iso(T0 + 6 * SECOND),
        },
    )


def room_read(position: int, user: str = CLIENT, room_id: str = ROOM):
    return (
        "RoomRead",
        {
            "room_id": room_id,
            "user_id": user,
            "message_id": "m",
            "position": position,
            "read_at": iso(T0),
        },
    )


class TestMessagesView:
    def test_the_room_shows_current_text_with_marks(self):
        log = Log()
        log.add(room_opened())
        send(log, 1)
        send(log, 2)
        log.add(edited("m1", "body 1, fixed"))
        log.add(deleted("m2"))
        rows, cursor = model_of(log).list_messages(ROOM)
        assert cursor is None
        assert [(r["message_id"], r["body"], r["edited"], r["deleted"]) for r in rows] == [
            ("m2", None, False, True),
            ("m1", "body 1, fixed", True, False),
        ]

    def test_a_deleted_message_hides_its_attachments(self):
        log = Log()
        log.add(room_opened())
        log.add(attachment_uploaded())
        log.add(message_sent("message-1", attachment_ids=("attachment-1",)))
        log.add(attached())
        log.add(deleted("message-1"))
        model = model_of(log)
        assert model.list_messages(ROOM)[0][0]["attachment_ids"] == []
        assert model.attachments["attachment-1"].message_id == "message-1"

    def test_pages_run_newest_first_and_end_with_no_cursor(self):
        log = Log()
        log.add(room_opened())
        for n in range(1, 6):
            send(log, n)
        model = model_of(log)
        first, cursor = model.list_messages(ROOM, limit=2)
        second, cursor2 = model.list_messages(ROOM, before=decode_cursor(cursor), limit=2)
        third, cursor3 = model.list_messages(ROOM, before=decode_cursor(cursor2), limit=2)
        ids = [r["message_id"] for r in first + second + third]
        assert ids == ["m5", "m4", "m3", "m2", "m1"]
        assert cursor3 is None

    def test_an_exact_last_page_has_no_cursor(self):
        log = Log()
        log.add(room_opened())
        for n in range(1, 3):
            send(log, n)
        assert model_of(log).list_messages(ROOM, limit=2)[1] is None

    def test_an_empty_or_unknown_room_lists_nothing(self):
        assert MessagingReadModel().list_messages("nope") == ([], None)


@hsettings(max_examples=60, deadline=None)
@hgiven(
    initial=st.integers(min_value=0, max_value=40),
    limit=st.integers(min_value=1, max_value=7),
    arrivals=st.lists(st.integers(min_value=0, max_value=4), max_size=15),
)
def test_paging_while_messages_arrive_has_no_gaps_or_duplicates(initial, limit, arrivals):
    """Every message present at the first page is seen exactly once, in newest-first order,
    however many new messages land between page requests."""
    log = Log()
    log.add(room_opened())
    for n in range(initial):
        send(log, n)
    model = model_of(log)
    present = [f"m{n}" for n in reversed(range(initial))]
    seen: list[str] = []
    page, cursor = model.list_messages(ROOM, limit=limit)
    seen += [r["message_id"] for r in page]
    counter, turn = initial, 0
    while cursor is not None:
        for _ in range(arrivals[turn % len(arrivals)] if arrivals else 0):
            model.apply(send(log, counter))
            counter += 1
        turn += 1
        page, cursor = model.list_messages(ROOM, before=decode_cursor(cursor), limit=limit)
        seen += [r["message_id"] for r in page]
    assert seen == present


class TestUnreadCounts:
    def build(self) -> tuple[Log, MessagingReadModel]:
        log = Log()
        log.add(room_opened())  # position 1
        send(log, 1, sender=FREELANCER)  # 2
        send(log, 2, sender=CLIENT)  # 3
        send(log, 3, sender=FREELANCER)  # 4
        return log, model_of(log)

    def test_unread_counts_others_messages_after_the_read_position(self):
        _, model = self.build()
        assert model.unread_count(ROOM, CLIENT) == 2
        assert model.unread_count(ROOM, FREELANCER) == 1

    def test_reading_moves_the_count(self):
        log, model = self.build()
        model.apply(log.add(room_read(2)))
        assert model.unread_count(ROOM, CLIENT) == 1
        model.apply(log.add(room_read(4)))
        assert model.unread_count(ROOM, CLIENT) == 0

    def test_a_read_position_never_moves_back_in_the_fold(self):
        log, model = self.build()
        model.apply(log.add(room_read(4)))
        model.apply(log.add(room_read(2)))
        assert model.read_positions[(ROOM, CLIENT)] == 4

    def test_deleted_messages_are_not_unread(self):
        log, model = self.build()
        model.apply(log.add(deleted("m3")))
        assert model.unread_count(ROOM, CLIENT) == 1


class TestRoomList:
    def build(self) -> MessagingReadModel:
        log = Log()
        log.add(room_opened("contract"))
        log.add(room_opened("interview"))
        send(log, 1, room_id=ROOM)  # the contract room becomes the latest
        log.add(read_only_event())
        return model_of(log)

    def test_rooms_are_ordered_by_latest_activity_with_unread_counts(self):
        rows, cursor = self.build().list_rooms(CLIENT)
        assert [(r["room_id"], r["unread_count"]) for r in rows] == [
            (ROOM, 1),
            (interview_room_id("proposal-1"), 0),
        ]
        assert rows[0]["read_only"] and rows[0]["last_message_id"] == "m1"
        assert cursor is None

    def test_room_list_pages(self):
        model = self.build()
        first, cursor = model.list_rooms(FREELANCER, limit=1)
        second, last = model.list_rooms(FREELANCER, before=decode_cursor(cursor), limit=1)
        assert [r["room_id"] for r in first + second] == [ROOM, interview_room_id("proposal-1")]
        assert last is None

    def test_a_stranger_has_no_rooms(self):
        assert self.build().list_rooms(STRANGER) == ([], None)

    def test_shared_jobs_come_from_interview_and_contract_rooms(self):
        model = self.build()
        assert model.shared_job_ids(CLIENT, FREELANCER) == {JOB}
        assert model.shared_job_ids(CLIENT, STRANGER) == set()


def test_replaying_an_event_twice_changes_nothing():
    log = Log()
    log.add(room_opened())
    event = send(log, 1)
    model = model_of(log)
    model.apply(event)
    assert model.rooms[ROOM].message_count == 1


def test_message_history_shows_every_version():
    events = [
        Stored(*message_sent("m1", body="v1")),
        Stored(*edited("m1", "v2")),
        Stored(*deleted("m1")),
    ]
    assert [(h["revision"], h["action"], h["body"]) for h in message_history(events)] == [
        (1, "sent", "v1"),
        (2, "edited", "v2"),
        (2, "deleted", "v2"),
    ]


@pytest.mark.parametrize("bad", ["", "0", "-1", "abc", "1.5", "12345678901234567890", " 1"])
def test_a_foreign_cursor_is_refused(bad):
    with pytest.raises(ValidationError):
        decode_cursor(bad)


@hgiven(st.integers(min_value=1, max_value=10**18))
def test_cursors_round_trip(position):
    assert decode_cursor(encode_cursor(position)) == position
