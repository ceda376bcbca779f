"""Read receipts: per participant, only forward."""

from __future__ import annotations

import pytest
from hypothesis import given as hgiven
from hypothesis import strategies as st

from services.messaging.domain import Message, ReadPosition, read_position_id
from shared.clock import iso
from shared.errors import Forbidden, NotFound, ValidationError

from .helpers import (
    CLIENT,
    OPERATOR_ID,
    STRANGER,
    T0,
    access_granted,
    contract_room,
    pending,
    read_only_event,
    read_position,
    sent_message,
)

ROOM = contract_room()


def room_read(position: int, message_id: str = "message-1", user: str = CLIENT):
    return (
        "RoomRead",
        {
            "room_id": ROOM.id,
            "user_id": user,
            "message_id": message_id,
            "position": position,
            "read_at": iso(T0),
        },
    )


def test_a_participant_marks_a_message_read():
    reader = read_position()
    reader.mark_read(room=ROOM, actor_id=CLIENT, message=sent_message(), position=7, now=T0)
    assert pending(reader) == [room_read(7)]


def test_marking_an_earlier_or_the_same_message_records_nothing():
    reader = read_position(CLIENT, room_read(7))
    for position in (3, 7):
        reader.mark_read(
            room=ROOM, actor_id=CLIENT, message=sent_message(), position=position, now=T0
        )
    assert pending(reader) == []


def test_the_position_moves_forward():
    reader = read_position(CLIENT, room_read(7))
    reader.mark_read(room=ROOM, actor_id=CLIENT, message=sent_message(), position=8, now=T0)
    assert pending(reader) == [room_read(8)]


def test_marking_read_works_in_a_read_only_room():
    reader = read_position()
    room = contract_room(read_only_event())
    reader.mark_read(room=room, actor_id=CLIENT, message=sent_message(), position=1, now=T0)
    assert len(pending(reader)) == 1


def test_a_non_participant_has_no_read_position():
    reader = ReadPosition(read_position_id(ROOM.id, STRANGER))
    with pytest.raises(Forbidden):
        reader.mark_read(room=ROOM, actor_id=STRANGER, message=sent_message(), position=1, now=T0)


def test_a_reviewer_has_no_read_position_either():
    room = contract_room(access_granted())
    reader = ReadPosition(read_position_id(room.id, OPERATOR_ID))
    with pytest.raises(Forbidden):
        reader.mark_read(
            room=room, actor_id=OPERATOR_ID, message=sent_message(), position=1, now=T0
        )


def test_a_message_of_another_room_is_refused():
    reader = read_position()
    with pytest.raises(ValidationError):
        reader.mark_read(room=ROOM, actor_id=CLIENT, message=Message("ghost"), position=1, now=T0)


@pytest.mark.parametrize("position", [0, -1])
def test_a_message_without_a_position_is_refused(position):
    with pytest.raises(ValidationError):
        read_position().mark_read(
            room=ROOM, actor_id=CLIENT, message=sent_message(), position=position, now=T0
        )


def test_an_unknown_room_is_not_found():
    from services.messaging.domain import Room

    room = Room("nope")
    reader = ReadPosition(read_position_id("nope", CLIENT))
    with pytest.raises(NotFound):
        reader.mark_read(room=room, actor_id=CLIENT, message=sent_message(), position=1, now=T0)


def test_the_stream_must_belong_to_the_reader():
    with pytest.raises(ValueError):
        read_position(STRANGER).mark_read(
            room=ROOM, actor_id=CLIENT, message=sent_message(), position=1, now=T0
        )


@hgiven(st.lists(st.integers(min_value=1, max_value=50), max_size=30))
def test_the_read_position_is_the_running_maximum(positions):
    reader = read_position()
    recorded = []
    for position in positions:
        reader.mark_read(
            room=ROOM, actor_id=CLIENT, message=sent_message(), position=position, now=T0
        )
        recorded += [e.data["position"] for e in reader.take_pending()]
    assert recorded == sorted(set(recorded))
    assert reader.position == max(positions, default=0)
