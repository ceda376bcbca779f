"""Settings validation, and the reactions to bidding's and escrow's events."""

from __future__ import annotations

import pytest

from services.messaging.domain import Room
from services.messaging.policies import react, room_id_for
from services.messaging.schemas import CONSUMED
from services.messaging.settings import MessagingSettings
from shared.schemas import load

from .helpers import CLIENT, CONTRACT, FREELANCER, JOB, PROPOSAL, T0, pending


def test_defaults():
    s = MessagingSettings()
    assert (s.edit_window_seconds, s.delete_window_seconds) == (900, 900)
    assert s.max_attachment_bytes == 100 * 1024 * 1024


def test_from_config_accepts_upper_case_keys():
    s = MessagingSettings.from_config({"EDIT_WINDOW_SECONDS": 60})
    assert s.edit_window_seconds == 60


@pytest.mark.parametrize(
    "config",
    [
        {"EDIT_WINDOW": 60},
        {"edit_window_seconds": -1},
        {"edit_window_seconds": 1.5},
        {"review_access_seconds": 0},
        {"max_body_chars": 0},
        {"max_body_chars": 10**9},
        {"max_attachment_bytes": 2 * 1024**3},
    ],
)
def test_bad_configuration_is_refused(config):
    with pytest.raises(ValueError):
        MessagingSettings.from_config(config)


PEOPLE = {"job_id": JOB, "client_id": CLIENT, "freelancer_id": FREELANCER}


def consume(room: Room | None, event_type: str, data: dict) -> Room:
    """What the consumer does: validate, find the room, react."""
    loaded = load(CONSUMED[event_type](), data)
    room = room or Room(room_id_for(event_type, loaded))
    react(room, event_type, loaded, T0)
    return room


def test_proposal_messaged_opens_an_interview_room_once():
    data = {"proposal_id": PROPOSAL, **PEOPLE, "message": "let's talk"}
    room = consume(None, "ProposalMessaged", data)
    assert [t for t, _ in pending(room)] == ["RoomOpened"]
    room.take_pending()
    consume(room, "ProposalMessaged", data)
    assert pending(room) == []


def test_contract_started_then_ended():
    room = consume(None, "ContractStarted", {"contract_id": CONTRACT, **PEOPLE})
    consume(room, "ContractEnded", {"contract_id": CONTRACT})
    consume(room, "ContractEnded", {"contract_id": CONTRACT})
    assert [t for t, _ in pending(room)] == ["RoomOpened", "RoomMadeReadOnly"]


def test_the_source_time_is_recorded_not_the_consumers_clock():
    data = {"proposal_id": PROPOSAL, **PEOPLE, "messaged_at": "2026-03-01T08:00:00+00:00"}
    room = consume(None, "ProposalMessaged", data)
    assert pending(room)[0][1]["opened_at"] == "2026-03-01T08:00:00+00:00"


def test_escrows_contract_opened_opens_the_same_room_as_contract_started():
    escrow_data = {
        "contract_id": CONTRACT,
        "offer_id": "offer-1",
        "proposal_id": PROPOSAL,
        **PEOPLE,
        "kind": "fixed",
        "currency": "USD",
        "start_date": None,
        "fees": {"freelancer_bps": 1000},
        "hourly_rate": None,
        "weekly_limit_hours": None,
        "manual_time_allowed": False,
        "opened_at": "2026-03-02T10:00:00+00:00",
    }
    room = consume(None, "ContractOpened", escrow_data)
    assert room.id == room_id_for("ContractStarted", {"contract_id": CONTRACT})
    consume(room, "ContractStarted", {"contract_id": CONTRACT, **PEOPLE})
    assert [t for t, _ in pending(room)] == ["RoomOpened"]


def test_contract_and_its_end_reach_the_same_room():
    assert room_id_for("ContractStarted", {"contract_id": "c"}) == room_id_for(
        "ContractEnded", {"contract_id": "c"}
    )


def test_other_events_are_not_ours():
    with pytest.raises(ValueError):
        room_id_for("JobPublished", {})
    with pytest.raises(ValueError):
        react(Room("r"), "JobPublished", {}, T0)
