"""Given-events builders shared by the messaging unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.messaging.content import describe_content
from services.messaging.domain import (
    Attachment,
    Message,
    ReadPosition,
    Room,
    contract_room_id,
    interview_room_id,
    read_position_id,
)
from services.messaging.settings import MessagingSettings
from shared.clock import iso

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
CLIENT = "client-1"
FREELANCER = "freelancer-1"
STRANGER = "stranger-1"
OPERATOR_ID = "operator-1"
AUDITOR_ID = "auditor-1"
JOB = "job-1"
PROPOSAL = "proposal-1"
CONTRACT = "contract-1"
SETTINGS = MessagingSettings()


@dataclass(frozen=True)
class Stored:
    """A stored event as the store hands it back."""

    type: str
    data: dict
    version: int = 0
    position: int = 0


def given(cls, id: str, *events: tuple[str, dict]):
    """The aggregate ``cls`` folded from ``events`` (pairs of type and data)."""
    return cls.rehydrate(id, [Stored(t, d, version=i) for i, (t, d) in enumerate(events, start=1)])


def pending(agg) -> list[tuple[str, dict]]:
    """The new events an aggregate recorded, as (type, data) pairs."""
    return [(e.type, e.data) for e in agg.pending]


def room_opened(kind: str = "contract", at: datetime = T0) -> tuple[str, dict]:
    room_id = contract_room_id(CONTRACT) if kind == "contract" else interview_room_id(PROPOSAL)
    return (
        "RoomOpened",
        {
            "room_id": room_id,
            "kind": kind,
            "participants": sorted([CLIENT, FREELANCER]),
            "job_id": JOB,
            "proposal_id": PROPOSAL if kind == "interview" else None,
            "contract_id": CONTRACT if kind == "contract" else None,
            "opened_by": None,
            "opened_at": iso(at),
        },
    )


def contract_room(*more: tuple[str, dict]) -> Room:
    """The contract room between CLIENT and FREELANCER, plus any further events."""
    return given(Room, contract_room_id(CONTRACT), room_opened(), *more)


def read_only_event(at: datetime = T0) -> tuple[str, dict]:
    return (
        "RoomMadeReadOnly",
        {
            "room_id": contract_room_id(CONTRACT),
            "reason": "contract_ended",
            "contract_id": CONTRACT,
            "read_only_at": iso(at),
        },
    )


def access_granted(
    grantee: str = OPERATOR_ID,
    role: str = "operator",
    at: datetime = T0,
    seconds: int = SETTINGS.review_access_seconds,
) -> tuple[str, dict]:
    return (
        "RoomReviewAccessGranted",
        {
            "room_id": contract_room_id(CONTRACT),
            "grantee_id": grantee,
            "role": role,
            "dispute_id": "dispute-1" if role == "operator" else None,
            "reason": "dispute over milestone 1",
            "granted_at": iso(at),
            "access_seconds": seconds,
            "expires_at": iso(at + timedelta(seconds=seconds)),
        },
    )


def message_sent(
    message_id: str = "message-1",
    sender: str = FREELANCER,
    body: str = "hello",
    at: datetime = T0,
    attachment_ids: tuple[str, ...] = (),
    edit_window: int = 900,
    delete_window: int = 900,
) -> tuple[str, dict]:
    return (
        "MessageSent",
        {
            "message_id": message_id,
            "room_id": contract_room_id(CONTRACT),
            "sender_id": sender,
            "body": body,
            "attachment_ids": list(attachment_ids),
            "sent_at": iso(at),
            "edit_window_seconds": edit_window,
            "delete_window_seconds": delete_window,
        },
    )


def sent_message(*more: tuple[str, dict], **kwargs) -> Message:
    """A message already sent in the contract room."""
    first = message_sent(**kwargs)
    return given(Message, first[1]["message_id"], first, *more)


def attachment_uploaded(
    attachment_id: str = "attachment-1",
    uploader: str = FREELANCER,
    room_id: str | None = None,
    data: bytes = b"%PDF-1.4 a contract draft",
) -> tuple[str, dict]:
    info = describe_content(data)
    return (
        "AttachmentUploaded",
        {
            "attachment_id": attachment_id,
            "room_id": room_id or contract_room_id(CONTRACT),
            "uploader_id": uploader,
            "filename": "draft.pdf",
            "content_type": info.content_type,
            "size_bytes": info.size_bytes,
            "sha256": info.sha256,
            "uploaded_at": iso(T0),
        },
    )


def uploaded(*more: tuple[str, dict], **kwargs) -> Attachment:
    first = attachment_uploaded(**kwargs)
    return given(Attachment, first[1]["attachment_id"], first, *more)


def attached(message_id: str = "message-1", attachment_id: str = "attachment-1"):
    return (
        "AttachmentAttached",
        {
            "attachment_id": attachment_id,
            "message_id": message_id,
            "room_id": contract_room_id(CONTRACT),
            "attached_at": iso(T0),
        },
    )


def read_position(user: str = CLIENT, *events: tuple[str, dict]) -> ReadPosition:
    return given(ReadPosition, read_position_id(contract_room_id(CONTRACT), user), *events)
