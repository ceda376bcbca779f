"""Reads of the SQL read models (``migrations/0001_read_models.sql``), shaped for the RPC.

Each function takes anything with ``execute(sql, params)`` returning a cursor (a unit of
work, or a connection), so a command can read its own writes in its transaction and a
query can run on a pooled connection. Rows are shaped by the same functions as the
in-memory reference model (``projections.room_for_reader``/``message_for_reader``).
"""

from __future__ import annotations

from typing import Any

from .domain import CONTRACT, INTERVIEW
from .projections import (
    AttachmentRow,
    MessageRow,
    RoomRow,
    attachment_for_reader,
    encode_cursor,
    message_for_reader,
    room_for_reader,
)

_ROOM_COLUMNS = (
    "r.room_id, r.kind, r.participants, r.job_id, r.proposal_id, r.contract_id, r.opened_at,"
    " r.read_only, r.last_activity_position, r.last_activity_at, r.last_message_id,"
    " r.message_count"
)
_MESSAGE_COLUMNS = (
    "message_id, room_id, sender_id, body, attachment_ids, sent_at, position, revision,"
    " edited_at, deleted, deleted_at"
)
# Others' live messages after the reader's position.
_UNREAD = (
    "(SELECT count(*) FROM msg_messages m WHERE m.room_id = r.room_id"
    " AND m.position > coalesce((SELECT p.position FROM msg_read_positions p"
    "   WHERE p.room_id = r.room_id AND p.user_id = %(user)s), 0)"
    " AND m.sender_id <> %(user)s AND NOT m.deleted)"
)


def _room_row(values: tuple) -> RoomRow:
    row = RoomRow(*values[:7])
    row.participants = tuple(row.participants)
    (
        row.read_only,
        row.last_activity_position,
        row.last_activity_at,
        row.last_message_id,
        row.message_count,
    ) = values[7:12]
    return row


def _message_row(values: tuple) -> MessageRow:
    row = MessageRow(*values[:7])
    row.attachment_ids = tuple(row.attachment_ids)
    row.revision, row.edited_at, row.deleted, row.deleted_at = values[7:11]
    return row


def room(db: Any, room_id: str, user_id: str) -> dict | None:
    """One room as ``user_id`` sees it, with their unread count; None if unknown."""
    found = db.execute(
        f"SELECT {_ROOM_COLUMNS}, {_UNREAD} FROM msg_rooms r WHERE r.room_id = %(room)s",
        {"room": room_id, "user": user_id},
    ).fetchone()
    if found is None:
        return None
    return room_for_reader(_room_row(found), found[12])


def rooms_of(db: Any, user_id: str, before: int | None, limit: int) -> dict:
    """The user's rooms, latest activity first, one page: ``{"rooms", "next_cursor"}``."""
    rows = db.execute(
        f"SELECT {_ROOM_COLUMNS}, {_UNREAD} FROM msg_room_members mm"
        " JOIN msg_rooms r ON r.room_id = mm.room_id"
        " WHERE mm.user_id = %(user)s AND (%(before)s::bigint IS NULL"
        "   OR r.last_activity_position < %(before)s::bigint)"
        " ORDER BY r.last_activity_position DESC LIMIT %(limit)s",
        {"user": user_id, "before": before, "limit": limit + 1},
    ).fetchall()
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "rooms": [room_for_reader(_room_row(r), r[12]) for r in page],
        "next_cursor": encode_cursor(page[-1][8]) if more and page else None,
    }


def message(db: Any, message_id: str) -> dict | None:
    """One message as the room shows it; None if unknown."""
    found = db.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM msg_messages WHERE message_id = %s", (message_id,)
    ).fetchone()
    return message_for_reader(_message_row(found)) if found else None


def message_position(db: Any, message_id: str) -> int | None:
    """The ordering key of a message (its ``MessageSent`` position), or None."""
    found = db.execute(
        "SELECT position FROM msg_messages WHERE message_id = %s", (message_id,)
    ).fetchone()
    return found[0] if found else None


def messages(db: Any, room_id: str, before: int | None, limit: int) -> dict:
    """One page of a room, newest first, strictly older than ``before``:
    ``{"messages", "next_cursor"}``. Keyset paging on the log position, so messages that
    arrive meanwhile land above every cursor already handed out: no gaps, no duplicates."""
    rows = db.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM msg_messages WHERE room_id = %(room)s"
        " AND (%(before)s::bigint IS NULL OR position < %(before)s::bigint)"
        " ORDER BY position DESC LIMIT %(limit)s",
        {"room": room_id, "before": before, "limit": limit + 1},
    ).fetchall()
    page = [_message_row(r) for r in rows[:limit]]
    more = len(rows) > limit
    return {
        "messages": [message_for_reader(m) for m in page],
        "next_cursor": encode_cursor(page[-1].position) if more and page else None,
    }


def attachment(db: Any, attachment_id: str) -> dict | None:
    """An attachment's metadata; None if unknown."""
    found = db.execute(
        "SELECT attachment_id, room_id, uploader_id, filename, content_type, size_bytes,"
        " sha256, uploaded_at, message_id FROM msg_attachments WHERE attachment_id = %s",
        (attachment_id,),
    ).fetchone()
    return attachment_for_reader(AttachmentRow(*found)) if found else None


def shared_job_ids(db: Any, user_a: str, user_b: str) -> set[str]:
    """Jobs two users share through an interview or contract room between them (the
    directory ``Room.open_direct`` needs)."""
    rows = db.execute(
        "SELECT DISTINCT r.job_id FROM msg_rooms r"
        " JOIN msg_room_members a ON a.room_id = r.room_id AND a.user_id = %s"
        " JOIN msg_room_members b ON b.room_id = r.room_id AND b.user_id = %s"
        " WHERE r.kind IN (%s, %s)",
        (user_a, user_b, INTERVIEW, CONTRACT),
    ).fetchall()
    return {r[0] for r in rows}
