"""Read models of messaging, as pure folds over stored events.

``MessagingReadModel`` is the in-memory reference of the SQL read models the wiring phase
builds (rooms by latest activity with unread counts, messages newest first, read positions,
the directory of who shares which job). Both must agree row for row; the in-memory one is
also the oracle for the service tests.

Ordering key: a message's place in its room is the global log position of its
``MessageSent``. Positions are handed out in commit order, so paging newest first with
``before=<position>`` never skips or repeats a message while new ones arrive (new messages
always land above every cursor already handed out).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.errors import field_error
from shared.eventstore.postgres import Projection

from .domain import INTERVIEW

CURSOR_PATTERN = r"^[1-9][0-9]{0,18}$"
_CURSOR_RE = re.compile(CURSOR_PATTERN)


class StoredEventLike(Protocol):
    """What a fold needs of a stored event."""

    type: str
    data: dict
    position: int


@dataclass
class RoomRow:
    """One room as the room list shows it."""

    room_id: str
    kind: str
    participants: tuple[str, ...]
    job_id: str
    proposal_id: str | None
    contract_id: str | None
    opened_at: str
    read_only: bool = False
    last_activity_position: int = 0
    last_activity_at: str = ""
    last_message_id: str | None = None
    message_count: int = 0


@dataclass
class MessageRow:
    """One message's current state; earlier versions live only in the log."""

    message_id: str
    room_id: str
    sender_id: str
    body: str
    attachment_ids: tuple[str, ...]
    sent_at: str
    position: int
    revision: int = 1
    edited_at: str | None = None
    deleted: bool = False
    deleted_at: str | None = None


@dataclass
class AttachmentRow:
    """An upload, and the message it was sent with once sent."""

    attachment_id: str
    room_id: str
    uploader_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: str
    message_id: str | None = None


def encode_cursor(position: int) -> str:
    """The opaque paging cursor handed to clients for a log position."""
    return str(position)


def decode_cursor(cursor: str, field: str = "before") -> int:
    """The position in a cursor from ``encode_cursor``; a ValidationError on ``field``
    otherwise."""
    if not isinstance(cursor, str) or not _CURSOR_RE.match(cursor):
        raise field_error(field, "Not a cursor returned by this service.")
    return int(cursor)


def message_for_reader(row: MessageRow) -> dict:
    """The room's view of a message: current text with ``edited``/``deleted`` marks.

    A deleted message shows neither its text nor its attachments; the log keeps both for
    reviewers (see ``message_history``).
    """
    return {
        "message_id": row.message_id,
        "room_id": row.room_id,
        "sender_id": row.sender_id,
        "body": None if row.deleted else row.body,
        "attachment_ids": [] if row.deleted else list(row.attachment_ids),
        "sent_at": row.sent_at,
        "edited": row.revision > 1 and not row.deleted,
        "edited_at": None if row.deleted else row.edited_at,
        "deleted": row.deleted,
        "deleted_at": row.deleted_at,
        "cursor": encode_cursor(row.position),
    }


def message_history(events: Iterable[Any]) -> list[dict]:
    """Every version of one message from its own stream, oldest first, for reviewers.

    Each entry: ``{"revision", "action": "sent"|"edited"|"deleted", "body", "by", "at"}``;
    a deletion entry repeats the last text, so the mediator sees what was withdrawn.
    """
    history: list[dict] = []
    body: str | None = None
    revision = 0
    for event in events:
        data = event.data
        if event.type == "MessageSent":
            body, revision = data["body"], 1
            history.append(_version(revision, "sent", body, data["sender_id"], data["sent_at"]))
        elif event.type == "MessageEdited":
            body, revision = data["body"], data["revision"]
            history.append(_version(revision, "edited", body, data["editor_id"], data["edited_at"]))
        elif event.type == "MessageDeleted":
            history.append(
                _version(revision, "deleted", body, data["deleted_by"], data["deleted_at"])
            )
    return history


def _version(revision: int, action: str, body: str | None, by: str, at: str) -> dict:
    return {"revision": revision, "action": action, "body": body, "by": by, "at": at}


def room_for_reader(row: RoomRow, unread: int) -> dict:
    """A room as ``list_rooms``/``get_room`` return it."""
    return {
        "room_id": row.room_id,
        "kind": row.kind,
        "participants": list(row.participants),
        "job_id": row.job_id,
        "proposal_id": row.proposal_id,
        "contract_id": row.contract_id,
        "opened_at": row.opened_at,
        "read_only": row.read_only,
        "last_activity_at": row.last_activity_at,
        "last_message_id": row.last_message_id,
        "message_count": row.message_count,
        "unread_count": unread,
        "cursor": encode_cursor(row.last_activity_position),
    }


def attachment_for_reader(row: AttachmentRow) -> dict:
    """An attachment's metadata; ``sha256`` is the checksum a client can verify."""
    return {
        "attachment_id": row.attachment_id,
        "room_id": row.room_id,
        "uploader_id": row.uploader_id,
        "message_id": row.message_id,
        "filename": row.filename,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "uploaded_at": row.uploaded_at,
    }


@dataclass
class MessagingReadModel:
    """All messaging read models, folded from events in position order."""

    rooms: dict[str, RoomRow] = field(default_factory=dict)
    messages: dict[str, MessageRow] = field(default_factory=dict)
    attachments: dict[str, AttachmentRow] = field(default_factory=dict)
    # room id -> ascending positions of its messages, and position -> message id
    _room_positions: dict[str, list[int]] = field(default_factory=dict)
    _message_at: dict[int, str] = field(default_factory=dict)
    # (room id, user id) -> position read up to
    read_positions: dict[tuple[str, str], int] = field(default_factory=dict)
    # user id -> ids of the rooms they take part in
    _rooms_of: dict[str, set[str]] = field(default_factory=dict)
    last_position: int = 0

    def apply(self, event: StoredEventLike) -> None:
        """Fold one event; events already folded (position not past the last) are skipped,
        which makes a replay over a partly built model safe."""
        if event.position <= self.last_position:
            return
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(event.data, event.position)
        self.last_position = event.position

    def apply_all(self, events: Iterable[StoredEventLike]) -> MessagingReadModel:
        """Fold many events; returns self for chaining."""
        for event in events:
            self.apply(event)
        return self

    # -- folds -----------------------------------------------------------------------------

    def _on_RoomOpened(self, data: dict, position: int) -> None:  # noqa: N802
        row = RoomRow(
            room_id=data["room_id"],
            kind=data["kind"],
            participants=tuple(data["participants"]),
            job_id=data["job_id"],
            proposal_id=data["proposal_id"],
            contract_id=data["contract_id"],
            opened_at=data["opened_at"],
            last_activity_position=position,
            last_activity_at=data["opened_at"],
        )
        self.rooms[row.room_id] = row
        self._room_positions.setdefault(row.room_id, [])
        for user in row.participants:
            self._rooms_of.setdefault(user, set()).add(row.room_id)

    def _on_RoomMadeReadOnly(self, data: dict, position: int) -> None:  # noqa: N802
        self.rooms[data["room_id"]].read_only = True

    def _on_MessageSent(self, data: dict, position: int) -> None:  # noqa: N802
        row = MessageRow(
            message_id=data["message_id"],
            room_id=data["room_id"],
            sender_id=data["sender_id"],
            body=data["body"],
            attachment_ids=tuple(data["attachment_ids"]),
            sent_at=data["sent_at"],
            position=position,
        )
        self.messages[row.message_id] = row
        positions = self._room_positions.setdefault(row.room_id, [])
        bisect.insort(positions, position)
        self._message_at[position] = row.message_id
        room = self.rooms[row.room_id]
        room.message_count += 1
        if position > room.last_activity_position:
            room.last_activity_position = position
            room.last_activity_at = row.sent_at
            room.last_message_id = row.message_id

    def _on_MessageEdited(self, data: dict, position: int) -> None:  # noqa: N802
        row = self.messages[data["message_id"]]
        row.body = data["body"]
        row.revision = data["revision"]
        row.edited_at = data["edited_at"]

    def _on_MessageDeleted(self, data: dict, position: int) -> None:  # noqa: N802
        row = self.messages[data["message_id"]]
        row.deleted = True
        row.deleted_at = data["deleted_at"]

    def _on_AttachmentUploaded(self, data: dict, position: int) -> None:  # noqa: N802
        self.attachments[data["attachment_id"]] = AttachmentRow(
            attachment_id=data["attachment_id"],
            room_id=data["room_id"],
            uploader_id=data["uploader_id"],
            filename=data["filename"],
            content_type=data["content_type"],
            size_bytes=data["size_bytes"],
            sha256=data["sha256"],
            uploaded_at=data["uploaded_at"],
        )

    def _on_AttachmentAttached(self, data: dict, position: int) -> None:  # noqa: N802
        self.attachments[data["attachment_id"]].message_id = data["message_id"]

    def _on_RoomRead(self, data: dict, position: int) -> None:  # noqa: N802
        key = (data["room_id"], data["user_id"])
        # The aggregate only records forward moves; max() keeps the fold order-proof anyway.
        self.read_positions[key] = max(self.read_positions.get(key, 0), data["position"])

    # -- queries ---------------------------------------------------------------------------

    def message_position(self, message_id: str) -> int | None:
        """The ordering key of a message (what ``ReadPosition.mark_read`` needs)."""
        row = self.messages.get(message_id)
        return row.position if row else None

    def unread_count(self, room_id: str, user_id: str) -> int:
        """Messages by others after the user's read position, not counting deleted ones."""
        read = self.read_positions.get((room_id, user_id), 0)
        positions = self._room_positions.get(room_id, [])
        count = 0
        for position in positions[bisect.bisect_right(positions, read) :]:
            row = self.messages[self._message_at[position]]
            if row.sender_id != user_id and not row.deleted:
                count += 1
        return count

    def list_rooms(
        self, user_id: str, before: int | None = None, limit: int = 50
    ) -> tuple[list[dict], str | None]:
        """The user's rooms, latest activity first, each with its unread count.

        ``before`` is a cursor position from a previous page; returns the page and the next
        cursor (None on the last page). A room that becomes active while a client pages moves
        to the top: it is seen on the next first page, never twice in one pass.
        """
        rooms = sorted(
            (self.rooms[rid] for rid in self._rooms_of.get(user_id, ())),
            key=lambda r: r.last_activity_position,
            reverse=True,
        )
        if before is not None:
            rooms = [r for r in rooms if r.last_activity_position < before]
        page = rooms[:limit]
        next_cursor = encode_cursor(page[-1].last_activity_position) if len(rooms) > limit else None
        return [room_for_reader(r, self.unread_count(r.room_id, user_id)) for r in page], (
            next_cursor
        )

    def list_messages(
        self, room_id: str, before: int | None = None, limit: int = 50
    ) -> tuple[list[dict], str | None]:
        """One page of a room's messages, newest first, strictly older than ``before``."""
        positions = self._room_positions.get(room_id, [])
        end = len(positions) if before is None else bisect.bisect_left(positions, before)
        start = max(0, end - limit)
        page = [self.messages[self._message_at[p]] for p in reversed(positions[start:end])]
        next_cursor = encode_cursor(page[-1].position) if start > 0 else None
        return [message_for_reader(m) for m in page], next_cursor

    def shared_job_ids(self, user_a: str, user_b: str) -> set[str]:
        """Jobs two users share through an interview or contract room between them: the basis
        ``Room.open_direct`` requires."""
        shared: set[str] = set()
        for room_id in self._rooms_of.get(user_a, set()) & self._rooms_of.get(user_b, set()):
            room = self.rooms[room_id]
            if room.kind == INTERVIEW or room.contract_id is not None:
                shared.add(room.job_id)
        return shared


# -- SQL read models ----------------------------------------------------------------------------


class MessagingProjection(Projection):
    """The SQL read models (``migrations/0001_read_models.sql``), updated in the append's
    transaction. Each handler mirrors the matching fold of ``MessagingReadModel`` above, so
    the two agree row for row, and replaying the log from position 0 rebuilds the tables."""

    name = "messaging"
    tables = (
        "msg_rooms",
        "msg_room_members",
        "msg_messages",
        "msg_attachments",
        "msg_read_positions",
    )

    def on_RoomOpened(self, cur, event) -> None:  # noqa: N802 - named after the event
        d = event.data
        cur.execute(
            "INSERT INTO msg_rooms (room_id, kind, participants, job_id, proposal_id,"
            " contract_id, opened_at, last_activity_position, last_activity_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                d["room_id"],
                d["kind"],
                list(d["participants"]),
                d["job_id"],
                d["proposal_id"],
                d["contract_id"],
                d["opened_at"],
                event.position,
                d["opened_at"],
            ),
        )
        for user_id in d["participants"]:
            cur.execute(
                "INSERT INTO msg_room_members (user_id, room_id) VALUES (%s, %s)",
                (user_id, d["room_id"]),
            )

    def on_RoomMadeReadOnly(self, cur, event) -> None:  # noqa: N802
        cur.execute(
            "UPDATE msg_rooms SET read_only = true WHERE room_id = %s", (event.data["room_id"],)
        )

    def on_MessageSent(self, cur, event) -> None:  # noqa: N802
        d = event.data
        cur.execute(
            "INSERT INTO msg_messages (message_id, room_id, sender_id, body, attachment_ids,"
            " sent_at, position) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                d["message_id"],
                d["room_id"],
                d["sender_id"],
                d["body"],
                list(d["attachment_ids"]),
                d["sent_at"],
                event.position,
            ),
        )
        cur.execute(
            # SET expressions see the old row, so each CASE compares with the old position.
            "UPDATE msg_rooms SET message_count = message_count + 1,"
            " last_activity_at = CASE WHEN %(p)s > last_activity_position"
            "   THEN %(at)s ELSE last_activity_at END,"
            " last_message_id = CASE WHEN %(p)s > last_activity_position"
            "   THEN %(m)s ELSE last_message_id END,"
            " last_activity_position = GREATEST(last_activity_position, %(p)s)"
            " WHERE room_id = %(r)s",
            {"p": event.position, "at": d["sent_at"], "m": d["message_id"], "r": d["room_id"]},
        )

    def on_MessageEdited(self, cur, event) -> None:  # noqa: N802
        d = event.data
        cur.execute(
            "UPDATE msg_messages SET body = %s, revision = %s, edited_at = %s"
            " WHERE message_id = %s",
            (d["body"], d["revision"], d["edited_at"], d["message_id"]),
        )

    def on_MessageDeleted(self, cur, event) -> None:  # noqa: N802
        d = event.data
        cur.execute(
            "UPDATE msg_messages SET deleted = true, deleted_at = %s WHERE message_id = %s",
            (d["deleted_at"], d["message_id"]),
        )

    def on_AttachmentUploaded(self, cur, event) -> None:  # noqa: N802
        d = event.data
        cur.execute(
            "INSERT INTO msg_attachments (attachment_id, room_id, uploader_id, filename,"
            " content_type, size_bytes, sha256, uploaded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                d["attachment_id"],
                d["room_id"],
                d["uploader_id"],
                d["filename"],
                d["content_type"],
                d["size_bytes"],
                d["sha256"],
                d["uploaded_at"],
            ),
        )

    def on_AttachmentAttached(self, cur, event) -> None:  # noqa: N802
        d = event.data
        cur.execute(
            "UPDATE msg_attachments SET message_id = %s WHERE attachment_id = %s",
            (d["message_id"], d["attachment_id"]),
        )

    def on_RoomRead(self, cur, event) -> None:  # noqa: N802
        d = event.data
        # GREATEST keeps the position moving forward only, as the in-memory fold does.
        cur.execute(
            "INSERT INTO msg_read_positions (room_id, user_id, position) VALUES (%s, %s, %s)"
            " ON CONFLICT (room_id, user_id) DO UPDATE"
            " SET position = GREATEST(msg_read_positions.position, excluded.position)",
            (d["room_id"], d["user_id"], d["position"]),
        )
