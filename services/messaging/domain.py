"""Messaging domain: rooms, messages, attachments and read positions. Pure, no I/O.

Four aggregates, each its own stream:

- ``Room`` (``room-<id>``): kind, participants, read-only flag, recorded review access.
  Small on purpose: messages live in their own streams so that a room with 100,000
  messages is not one 100,000-event stream to load before every send.
- ``Message`` (``message-<id>``): sent, edited, deleted. Every version stays in the log.
- ``Attachment`` (``attachment-<id>``): uploaded (content hash, size, sniffed type), then
  attached to exactly one message by its uploader.
- ``ReadPosition`` (``readpos-<id>``): how far one participant has read one room.

Room ids are uuid5 of their source (proposal, contract, or the pair of users of a direct
room), so opening a room again from a repeated event finds the same stream and records
nothing. Time and the caller's identity are always arguments.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from shared.clock import iso, parse_time
from shared.domain import Aggregate
from shared.errors import Conflict, Forbidden, NotFound, ValidationError, field_error

from .content import ContentInfo, clean_filename
from .settings import MessagingSettings

# Fixed namespace for deterministic room ids; changing it would orphan every room stream.
ROOM_NAMESPACE = uuid.UUID("6f1c2f4e-7a0e-5b53-9d1e-1f4c8b6a9e21")

INTERVIEW = "interview"
CONTRACT = "contract"
DIRECT = "direct"
ROOM_KINDS = (INTERVIEW, CONTRACT, DIRECT)

OPERATOR = "operator"
AUDITOR = "auditor"


def interview_room_id(proposal_id: str) -> str:
    """The interview room of a proposal; the same proposal always gives the same room."""
    return str(uuid.uuid5(ROOM_NAMESPACE, f"interview:{proposal_id}"))


def contract_room_id(contract_id: str) -> str:
    """The contract room of a contract."""
    return str(uuid.uuid5(ROOM_NAMESPACE, f"contract:{contract_id}"))


def direct_room_id(user_a: str, user_b: str) -> str:
    """The one direct room between two users, whichever of them opens it."""
    first, second = sorted((user_a, user_b))
    return str(uuid.uuid5(ROOM_NAMESPACE, f"direct:{first}:{second}"))


def read_position_id(room_id: str, user_id: str) -> str:
    """The stream id of one participant's read position in one room."""
    return str(uuid.uuid5(ROOM_NAMESPACE, f"read:{room_id}:{user_id}"))


def window_open(started_at: datetime, seconds: int, now: datetime) -> bool:
    """A window of ``seconds`` starting at ``started_at`` is open while
    ``started_at <= now <= started_at + seconds`` (the closing instant itself included)."""
    return started_at <= now <= started_at + timedelta(seconds=seconds)


def _contains_nul(text: str) -> bool:
    # PostgreSQL cannot store U+0000 in text or jsonb, so it is refused at the door.
    return "\x00" in text


class Room(Aggregate):
    """A conversation between fixed participants."""

    stream_prefix = "room"

    def __init__(self, id: str):
        super().__init__(id)
        self.kind: str | None = None
        self.participants: tuple[str, ...] = ()
        self.job_id: str | None = None
        self.proposal_id: str | None = None
        self.contract_id: str | None = None
        self.opened_at: datetime | None = None
        self.read_only = False
        self.read_only_since: datetime | None = None
        # grantee id -> expiry of their recorded review access (latest grant wins)
        self.review_access: dict[str, datetime] = {}

    # -- opening ---------------------------------------------------------------------------

    def open_interview(
        self, *, proposal_id: str, job_id: str, client_id: str, freelancer_id: str, now: datetime
    ) -> None:
        """Open the interview room of a proposal (from bidding's proposal-messaged event).

        Idempotent: a repeated event for the same proposal and people records nothing; the
        same proposal with different people is a conflict (the source is inconsistent).
        """
        self._require_id(interview_room_id(proposal_id))
        self._open(
            kind=INTERVIEW,
            participants=(client_id, freelancer_id),
            job_id=job_id,
            proposal_id=proposal_id,
            contract_id=None,
            opened_by=None,
            now=now,
        )

    def open_contract(
        self, *, contract_id: str, job_id: str, client_id: str, freelancer_id: str, now: datetime
    ) -> None:
        """Open the contract room (from escrow's ``ContractStarted``); idempotent."""
        self._require_id(contract_room_id(contract_id))
        self._open(
            kind=CONTRACT,
            participants=(client_id, freelancer_id),
            job_id=job_id,
            proposal_id=None,
            contract_id=contract_id,
            opened_by=None,
            now=now,
        )

    def open_direct(
        self,
        *,
        actor_id: str,
        other_user_id: str,
        shared_job_ids: Collection[str],
        now: datetime,
    ) -> None:
        """Open the direct room between the caller and another user.

        Allowed only to users who share a job or contract, which the service reads from its
        room directory (``projections.shared_job_ids``) and passes in as ``shared_job_ids``.
        Opening an existing direct room again is a no-op for either of its two users.
        """
        if actor_id == other_user_id:
            raise field_error("other_user_id", "You cannot open a room with yourself.")
        self._require_id(direct_room_id(actor_id, other_user_id))
        if self.exists:
            if actor_id not in self.participants:
                raise Forbidden("only participants may open this room")
            return
        if not shared_job_ids:
            raise Forbidden("a direct room needs a job or contract shared with that user")
        self._open(
            kind=DIRECT,
            participants=(actor_id, other_user_id),
            # The smallest shared job id, so the recorded basis does not depend on set order.
            job_id=min(shared_job_ids),
            proposal_id=None,
            contract_id=None,
            opened_by=actor_id,
            now=now,
        )

    def _require_id(self, expected: str) -> None:
        # A mismatch is a wiring bug (the service loaded the wrong stream), not user input.
        if self.id != expected:
            raise ValueError(f"room {self.id} is not the derived room id {expected}")

    def _open(
        self,
        *,
        kind: str,
        participants: tuple[str, str],
        job_id: str,
        proposal_id: str | None,
        contract_id: str | None,
        opened_by: str | None,
        now: datetime,
    ) -> None:
        if participants[0] == participants[1]:
            raise ValidationError(
                "a room needs two different people",
                {"freelancer_id": ["Client and freelancer must differ."]},
            )
        members = tuple(sorted(participants))
        if self.exists:
            if self.kind != kind or self.participants != members or self.job_id != job_id:
                raise Conflict(
                    f"room {self.id} was opened with other participants or job",
                    {"participants": list(self.participants), "job_id": self.job_id},
                )
            return
        self.record(
            "RoomOpened",
            room_id=self.id,
            kind=kind,
            participants=list(members),
            job_id=job_id,
            proposal_id=proposal_id,
            contract_id=contract_id,
            opened_by=opened_by,
            opened_at=iso(now),
        )

    # -- lifecycle -------------------------------------------------------------------------

    def end_contract(self, *, contract_id: str, now: datetime) -> None:
        """Keep the contract room as a read-only record (from escrow's ``ContractEnded``).

        A room not opened yet raises NotFound so that the consumer retries the event after
        ``ContractStarted`` has been handled; a repeated end records nothing.
        """
        self._require_id(contract_room_id(contract_id))
        if not self.exists:
            raise NotFound(f"no room yet for contract {contract_id}")
        if self.read_only:
            return
        self.record(
            "RoomMadeReadOnly",
            room_id=self.id,
            reason="contract_ended",
            contract_id=contract_id,
            read_only_at=iso(now),
        )

    # -- access ----------------------------------------------------------------------------

    def grant_review_access(
        self,
        *,
        actor_id: str,
        roles: Collection[str],
        reason: str,
        dispute_id: str | None,
        settings: MessagingSettings,
        now: datetime,
    ) -> None:
        """Record that an operator (for a dispute) or an auditor reads this room.

        The access is itself the event ``RoomReviewAccessGranted``; it lasts
        ``settings.review_access_seconds``, recorded with the grant. Operators must name the
        dispute; auditors read for an audit and may name one.
        """
        self.ensure_exists()
        if actor_id in self.participants:
            raise Conflict("participants already read this room")
        if OPERATOR in roles and dispute_id:
            role = OPERATOR
        elif AUDITOR in roles:
            role = AUDITOR
        elif OPERATOR in roles:
            raise field_error("dispute_id", "An operator reads a room only for a dispute.")
        else:
            raise Forbidden("only operators (for a dispute) and auditors may review a room")
        reason = reason.strip()
        if not reason:
            raise field_error("reason", "Say why you need to read this room.")
        if _contains_nul(reason):
            raise field_error("reason", "Must not contain NUL characters.")
        window = settings.review_access_seconds
        self.record(
            "RoomReviewAccessGranted",
            room_id=self.id,
            grantee_id=actor_id,
            role=role,
            dispute_id=dispute_id,
            reason=reason,
            granted_at=iso(now),
            access_seconds=window,
            expires_at=iso(now + timedelta(seconds=window)),
        )

    def ensure_exists(self) -> None:
        """Raise NotFound for a room that was never opened."""
        if not self.exists:
            raise NotFound(f"room {self.id} not found")

    def is_participant(self, user_id: str) -> bool:
        """Whether ``user_id`` is one of the room's two people."""
        return user_id in self.participants

    def has_review_access(self, actor_id: str, roles: Collection[str], now: datetime) -> bool:
        """Whether a recorded review access of ``actor_id`` is in force at ``now``.

        The caller must still hold an operator or auditor role: a demoted user loses access.
        """
        expires = self.review_access.get(actor_id)
        if expires is None or not (OPERATOR in roles or AUDITOR in roles):
            return False
        return now <= expires

    def can_read(self, actor_id: str, roles: Collection[str], now: datetime) -> bool:
        """Participants read always; reviewers only while their recorded access lasts."""
        return self.is_participant(actor_id) or self.has_review_access(actor_id, roles, now)

    def ensure_can_read(self, actor_id: str, roles: Collection[str], now: datetime) -> None:
        """Raise NotFound/Forbidden unless ``actor_id`` may read the room at ``now``."""
        self.ensure_exists()
        if not self.can_read(actor_id, roles, now):
            raise Forbidden("only the room's participants may read it")

    def ensure_can_see_history(self, actor_id: str, roles: Collection[str], now: datetime) -> None:
        """Every version of every message is for reviewers (auditors, dispute mediators)."""
        self.ensure_exists()
        if not self.has_review_access(actor_id, roles, now):
            raise Forbidden("message history is open to auditors and dispute mediators only")

    def ensure_can_write(self, actor_id: str) -> None:
        """Raise unless ``actor_id`` is a participant and the room is not read-only."""
        self.ensure_exists()
        if not self.is_participant(actor_id):
            raise Forbidden("only the room's participants may write in it")
        if self.read_only:
            raise Conflict("this room is read-only: its contract has ended")

    # -- apply -----------------------------------------------------------------------------

    def on_RoomOpened(self, data: dict) -> None:  # noqa: N802 - named after the event
        self.kind = data["kind"]
        self.participants = tuple(data["participants"])
        self.job_id = data["job_id"]
        self.proposal_id = data["proposal_id"]
        self.contract_id = data["contract_id"]
        self.opened_at = parse_time(data["opened_at"])

    def on_RoomMadeReadOnly(self, data: dict) -> None:  # noqa: N802
        self.read_only = True
        self.read_only_since = parse_time(data["read_only_at"])

    def on_RoomReviewAccessGranted(self, data: dict) -> None:  # noqa: N802
        self.review_access[data["grantee_id"]] = parse_time(data["expires_at"])


class Attachment(Aggregate):
    """One uploaded file, stored in the blob store under its SHA-256."""

    stream_prefix = "attachment"

    def __init__(self, id: str):
        super().__init__(id)
        self.room_id: str | None = None
        self.uploader_id: str | None = None
        self.filename = ""
        self.content_type = ""
        self.size_bytes = 0
        self.sha256 = ""
        self.uploaded_at: datetime | None = None
        self.message_id: str | None = None

    def upload(
        self,
        *,
        room: Room,
        actor_id: str,
        filename: str,
        content: ContentInfo,
        settings: MessagingSettings,
        now: datetime,
    ) -> None:
        """Record an upload into ``room`` by a participant who may write there.

        ``content`` comes from ``content.describe_content`` over the received bytes, so the
        size, hash and type are facts, not the client's claims. Empty files and files over
        ``settings.max_attachment_bytes`` are refused.
        """
        if self.exists:
            raise Conflict(f"attachment {self.id} already exists")
        room.ensure_can_write(actor_id)
        if content.size_bytes <= 0:
            raise field_error("content", "The file is empty.")
        if content.size_bytes > settings.max_attachment_bytes:
            raise field_error(
                "content",
                f"The file is {content.size_bytes} bytes; the limit is "
                f"{settings.max_attachment_bytes} bytes.",
            )
        name = clean_filename(filename, settings.max_filename_chars)
        if not name:
            raise field_error("filename", "A file name is required.")
        self.record(
            "AttachmentUploaded",
            attachment_id=self.id,
            room_id=room.id,
            uploader_id=actor_id,
            filename=name,
            content_type=content.content_type,
            size_bytes=content.size_bytes,
            sha256=content.sha256,
            uploaded_at=iso(now),
        )

    def check_attachable(self, *, room_id: str, actor_id: str) -> None:
        """Raise a ValidationError on ``attachment_ids`` unless ``actor_id`` may put this
        upload on a new message in ``room_id``: it exists, is theirs, was uploaded to that
        room, and is not on another message yet."""
        if not self.exists:
            raise field_error("attachment_ids", f"Unknown attachment {self.id}.")
        if self.uploader_id != actor_id:
            raise field_error("attachment_ids", f"Attachment {self.id} is not yours.")
        if self.room_id != room_id:
            raise field_error(
                "attachment_ids", f"Attachment {self.id} was uploaded to another room."
            )
        if self.message_id is not None:
            raise field_error(
                "attachment_ids", f"Attachment {self.id} is already on another message."
            )

    def attach_to(self, *, message_id: str, room_id: str, actor_id: str, now: datetime) -> None:
        """Bind this upload to the message that carries it; only once, only its uploader."""
        self.check_attachable(room_id=room_id, actor_id=actor_id)
        self.record(
            "AttachmentAttached",
            attachment_id=self.id,
            message_id=message_id,
            room_id=room_id,
            attached_at=iso(now),
        )

    def ensure_can_download(
        self,
        *,
        room: Room,
        message: Message | None,
        actor_id: str,
        roles: Collection[str],
        now: datetime,
    ) -> None:
        """Raise unless ``actor_id`` may fetch this file at ``now``.

        An upload not yet sent is visible to its uploader only. Once on a message, the room's
        readers may fetch it, except after the message is deleted, when only reviewers may.
        ``message`` is the aggregate of ``self.message_id`` (None when not attached).
        """
        if not self.exists:
            raise NotFound(f"attachment {self.id} not found")
        if room.id != self.room_id:
            raise ValueError("room does not match the attachment's room")
        room.ensure_can_read(actor_id, roles, now)
        if self.message_id is None:
            if actor_id != self.uploader_id:
                raise Forbidden("this file has not been sent yet")
            return
        if message is None or message.id != self.message_id:
            raise ValueError("message does not match the attachment's message")
        if message.deleted and not room.has_review_access(actor_id, roles, now):
            raise NotFound(f"attachment {self.id} was deleted with its message")

    def on_AttachmentUploaded(self, data: dict) -> None:  # noqa: N802
        self.room_id = data["room_id"]
        self.uploader_id = data["uploader_id"]
        self.filename = data["filename"]
        self.content_type = data["content_type"]
        self.size_bytes = data["size_bytes"]
        self.sha256 = data["sha256"]
        self.uploaded_at = parse_time(data["uploaded_at"])

    def on_AttachmentAttached(self, data: dict) -> None:  # noqa: N802
        self.message_id = data["message_id"]


class Message(Aggregate):
    """A message in a room; edits and deletion keep every earlier version in the log."""

    stream_prefix = "message"

    def __init__(self, id: str):
        super().__init__(id)
        self.room_id: str | None = None
        self.sender_id: str | None = None
        self.body = ""
        self.attachment_ids: tuple[str, ...] = ()
        self.sent_at: datetime | None = None
        self.edit_window_seconds = 0
        self.delete_window_seconds = 0
        self.revision = 0
        self.edited_at: datetime | None = None
        self.deleted = False
        self.deleted_at: datetime | None = None
        # (revision, body, at) for every version, in order: the auditor's view.
        self.versions: list[tuple[int, str, datetime]] = []

    def send(
        self,
        *,
        room: Room,
        actor_id: str,
        body: str,
        attachments: Sequence[Attachment],
        settings: MessagingSettings,
        now: datetime,
    ) -> None:
        """Send a message: text, attachments, or both.

        Records ``MessageSent`` here and ``AttachmentAttached`` on each attachment, so the
        service appends this aggregate's and every attachment's pending events together. The
        edit and delete windows in force are recorded in ``MessageSent``.
        """
        if self.exists:
            raise Conflict(f"message {self.id} already exists")
        room.ensure_can_write(actor_id)
        _check_body(body, has_attachments=bool(attachments), settings=settings)
        ids = [a.id for a in attachments]
        if len(set(ids)) != len(ids):
            raise field_error("attachment_ids", "An attachment is listed twice.")
        if len(ids) > settings.max_attachments_per_message:
            raise field_error(
                "attachment_ids",
                f"At most {settings.max_attachments_per_message} attachments per message.",
            )
        # Check every attachment before recording any event, so a bad one writes nothing.
        for attachment in attachments:
            attachment.check_attachable(room_id=room.id, actor_id=actor_id)
        self.record(
            "MessageSent",
            message_id=self.id,
            room_id=room.id,
            sender_id=actor_id,
            body=body,
            attachment_ids=ids,
            sent_at=iso(now),
            edit_window_seconds=settings.edit_window_seconds,
            delete_window_seconds=settings.delete_window_seconds,
        )
        for attachment in attachments:
            attachment.attach_to(message_id=self.id, room_id=room.id, actor_id=actor_id, now=now)

    def edit(
        self,
        *,
        room: Room,
        actor_id: str,
        body: str,
        settings: MessagingSettings,
        now: datetime,
    ) -> None:
        """Replace the text within the edit window recorded when the message was sent.

        Only the sender, only while the room is writable and the message not deleted. An
        edit to the very same text records nothing.
        """
        self._ensure_own(room, actor_id)
        if self.deleted:
            raise Conflict("a deleted message cannot be edited")
        if not self._within(self.edit_window_seconds, now):
            raise Conflict(
                f"the edit window of {self.edit_window_seconds} seconds has closed",
                {"sent_at": iso(self.sent_at)},
            )
        _check_body(body, has_attachments=bool(self.attachment_ids), settings=settings)
        if body == self.body:
            return
        self.record(
            "MessageEdited",
            message_id=self.id,
            room_id=self.room_id,
            editor_id=actor_id,
            body=body,
            revision=self.revision + 1,
            edited_at=iso(now),
        )

    def delete(self, *, room: Room, actor_id: str, now: datetime) -> None:
        """Delete within the delete window: the room shows a mark, the log keeps the text."""
        self._ensure_own(room, actor_id)
        if self.deleted:
            raise Conflict("the message is already deleted")
        if not self._within(self.delete_window_seconds, now):
            raise Conflict(
                f"the delete window of {self.delete_window_seconds} seconds has closed",
                {"sent_at": iso(self.sent_at)},
            )
        self.record(
            "MessageDeleted",
            message_id=self.id,
            room_id=self.room_id,
            deleted_by=actor_id,
            deleted_at=iso(now),
        )

    def _within(self, seconds: int, now: datetime) -> bool:
        # The window recorded at sending, never today's configuration.
        return self.sent_at is not None and window_open(self.sent_at, seconds, now)

    def _ensure_own(self, room: Room, actor_id: str) -> None:
        if not self.exists:
            raise NotFound(f"message {self.id} not found")
        if room.id != self.room_id:
            raise ValueError("room does not match the message's room")
        room.ensure_can_write(actor_id)
        if actor_id != self.sender_id:
            raise Forbidden("only the sender may change a message")

    def on_MessageSent(self, data: dict) -> None:  # noqa: N802
        self.room_id = data["room_id"]
        self.sender_id = data["sender_id"]
        self.body = data["body"]
        self.attachment_ids = tuple(data["attachment_ids"])
        self.sent_at = parse_time(data["sent_at"])
        self.edit_window_seconds = data["edit_window_seconds"]
        self.delete_window_seconds = data["delete_window_seconds"]
        self.revision = 1
        self.versions.append((1, self.body, self.sent_at))

    def on_MessageEdited(self, data: dict) -> None:  # noqa: N802
        self.body = data["body"]
        self.revision = data["revision"]
        self.edited_at = parse_time(data["edited_at"])
        self.versions.append((self.revision, self.body, self.edited_at))

    def on_MessageDeleted(self, data: dict) -> None:  # noqa: N802
        self.deleted = True
        self.deleted_at = parse_time(data["deleted_at"])


class ReadPosition(Aggregate):
    """How far one participant has read one room; it only moves forward."""

    stream_prefix = "readpos"

    def __init__(self, id: str):
        super().__init__(id)
        self.room_id: str | None = None
        self.user_id: str | None = None
        self.message_id: str | None = None
        self.position = 0

    def mark_read(
        self, *, room: Room, actor_id: str, message: Message, position: int, now: datetime
    ) -> None:
        """Move the read position to ``message``, whose ordering key in the room's listing is
        ``position`` (the global log position of its ``MessageSent``, from the read model).

        Marking an earlier message than the current position records nothing, so receipts
        arriving out of order never move the position back.
        """
        if self.id != read_position_id(room.id, actor_id):
            raise ValueError("read position stream does not belong to this room and reader")
        room.ensure_exists()
        if not room.is_participant(actor_id):
            raise Forbidden("only the room's participants keep a read position")
        if not message.exists or message.room_id != room.id:
            raise field_error("message_id", f"Message {message.id} is not in this room.")
        if type(position) is not int or position < 1:
            raise field_error("message_id", "The message has no position in the room yet.")
        if position <= self.position:
            return
        self.record(
            "RoomRead",
            room_id=room.id,
            user_id=actor_id,
            message_id=message.id,
            position=position,
            read_at=iso(now),
        )

    def on_RoomRead(self, data: dict) -> None:  # noqa: N802
        self.room_id = data["room_id"]
        self.user_id = data["user_id"]
        self.message_id = data["message_id"]
        self.position = data["position"]


def _check_body(body: str, *, has_attachments: bool, settings: MessagingSettings) -> None:
    if not body.strip() and not has_attachments:
        raise field_error("body", "Write a message or attach a file.")
    if len(body) > settings.max_body_chars:
        raise field_error(
            "body", f"At most {settings.max_body_chars} characters; this has {len(body)}."
        )
    if _contains_nul(body):
        raise field_error("body", "Must not contain NUL characters.")
