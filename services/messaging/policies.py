"""Reactions to other services' events: which room each one opens or closes.

The consumer validates the event data with the matching schema in ``schemas.CONSUMED``
(adding ``contract_id`` from the source stream name ``contract-<id>`` when escrow's event
data does not carry it),
asks ``room_id_for`` which room stream to load, calls ``react`` and appends the room's
pending events (none when the event is a repeat). ``now`` should be the source event's
recorded time, so a replay of the consumer records the same ``opened_at``.
"""

from __future__ import annotations

from datetime import datetime

from shared.consumers import consume

from .domain import Room, contract_room_id, interview_room_id
from .schemas import ContractEndedEvent, ContractOpenedEvent, ProposalMessagedEvent

PROPOSAL_MESSAGED = "ProposalMessaged"
CONTRACT_STARTED = "ContractStarted"
# escrow's contract aggregate records ``ContractOpened`` with the same four ids; both open
# the same room (the second one finds it open and records nothing), so either name works.
CONTRACT_OPENED = "ContractOpened"
CONTRACT_ENDED = "ContractEnded"
CONTRACT_OPENERS = (CONTRACT_STARTED, CONTRACT_OPENED)

# (source service, event type) pairs messaging subscribes to.
SUBSCRIPTIONS = (
    ("bidding", PROPOSAL_MESSAGED),
    ("escrow", CONTRACT_STARTED),
    ("escrow", CONTRACT_OPENED),
    ("escrow", CONTRACT_ENDED),
)

# The field of each event that says when it happened at its source.
OCCURRED_AT = {
    PROPOSAL_MESSAGED: "messaged_at",
    CONTRACT_STARTED: "started_at",
    CONTRACT_OPENED: "opened_at",
    CONTRACT_ENDED: "ended_at",
}


def room_id_for(event_type: str, data: dict) -> str:
    """The room an incoming event concerns, derived from its source id."""
    if event_type == PROPOSAL_MESSAGED:
        return interview_room_id(data["proposal_id"])
    if event_type in (*CONTRACT_OPENERS, CONTRACT_ENDED):
        return contract_room_id(data["contract_id"])
    raise ValueError(f"messaging does not react to {event_type}")


def react(room: Room, event_type: str, data: dict, now: datetime) -> None:
    """Apply one consumed event to its room (see ``room_id_for``); repeats record nothing.

    ``data`` is the event data loaded by its schema. When it says when it happened at its
    source (``messaged_at``, ``started_at``, ``opened_at``, ``ended_at``), that time is the one
    recorded, so a replayed consumer records the same times; otherwise ``now`` is used.
    """
    now = data.get(OCCURRED_AT.get(event_type, "")) or now
    if event_type == PROPOSAL_MESSAGED:
        room.open_interview(
            proposal_id=data["proposal_id"],
            job_id=data["job_id"],
            client_id=data["client_id"],
            freelancer_id=data["freelancer_id"],
            now=now,
        )
    elif event_type in CONTRACT_OPENERS:
        room.open_contract(
            contract_id=data["contract_id"],
            job_id=data["job_id"],
            client_id=data["client_id"],
            freelancer_id=data["freelancer_id"],
            now=now,
        )
    elif event_type == CONTRACT_ENDED:
        room.end_contract(contract_id=data["contract_id"], now=now)
    else:
        raise ValueError(f"messaging does not react to {event_type}")


# -- wiring: the service's consumers --------------------------------------------------------


def apply_consumed(uow, event_type: str, data: dict, recorded_at: datetime) -> None:
    """Load the room an incoming event concerns, react, and append what it recorded (nothing
    for a repeat). ``recorded_at`` is the source's recording time, used when the data does
    not say when it happened."""
    room = uow.load(Room, room_id_for(event_type, data))
    react(room, event_type, data, recorded_at)
    uow.save(room)


class RoomPolicies:
    """Mixed into the messaging service: opens and closes rooms from other services' events.

    Each handler runs once per event id in the transaction that records it as processed
    (``shared.consumers.consume``); the room ids are derived from the source ids, so even a
    second delivery under a new event id finds the room open and records nothing.
    """

    @consume("bidding", PROPOSAL_MESSAGED, schema=ProposalMessagedEvent)
    def open_interview_room(self, uow, event) -> None:
        """bidding ``ProposalMessaged``: the client wrote about a proposal."""
        apply_consumed(uow, PROPOSAL_MESSAGED, event.data, event.recorded_at)

    @consume("escrow", CONTRACT_OPENED, schema=ContractOpenedEvent)
    def open_contract_room(self, uow, event) -> None:
        """escrow ``ContractOpened``: a contract started from an accepted offer."""
        apply_consumed(uow, CONTRACT_OPENED, event.data, event.recorded_at)

    @consume("escrow", CONTRACT_ENDED, schema=ContractEndedEvent)
    def close_contract_room(self, uow, event) -> None:
        """escrow ``ContractEnded``: the room stays readable, for the record, but read-only.
        An end that overtakes its start raises NotFound and is retried by the consumer."""
        apply_consumed(uow, CONTRACT_ENDED, event.data, event.recorded_at)
