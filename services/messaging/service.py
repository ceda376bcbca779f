"""The messaging service: rooms, messages, attachments and read receipts over nameko RPC.

Entrypoints only: each validates its arguments (``@validated``), checks the caller, runs the
domain (``domain.py``) in one transaction through ``self.store.command`` for mutations, and
returns plain JSON shaped by ``views``. Rooms are opened from other services' events by the
consumers in ``policies.RoomPolicies``. Run with
``nameko run --config services/messaging/config.yaml services.messaging.service``.
"""

from __future__ import annotations

import base64
import uuid

from nameko.rpc import rpc

from shared import rpc as platform
from shared.auth import CallerProvider
from shared.errors import Forbidden, NotFound, field_error
from shared.observability import LogContext, Metrics
from shared.process import CollectorTuning
from shared.relay import Relay
from shared.rpc import validated
from shared.storage import EventStore

from . import policies, views
from .content import describe_content
from .dependencies import MessagingConfigProvider
from .domain import Attachment, Message, ReadPosition, Room, direct_room_id, read_position_id
from .projections import MessagingProjection, message_history
from .schemas import (
    DeleteMessageSchema,
    EditMessageSchema,
    GetAttachmentSchema,
    GetRoomSchema,
    ListMessagesSchema,
    ListRoomsSchema,
    MarkReadSchema,
    MessageHistorySchema,
    OpenRoomSchema,
    RequestRoomAccessSchema,
    SendMessageSchema,
    UploadAttachmentSchema,
)


# The mixins are reached through their modules: ``nameko run`` starts every class with
# entrypoints that it finds in this module's namespace.
class MessagingService(policies.RoomPolicies, platform.Operations, platform.FollowsSuspensions):
    """Where clients and freelancers talk and share files."""

    name = "messaging"

    store = EventStore(projections=[MessagingProjection()])
    relay = Relay()
    caller = CallerProvider()
    metrics = Metrics()  # /metrics and /health on METRICS_PORT
    log_context = LogContext()  # correlation id, caller, entrypoint in log lines
    collector = CollectorTuning()  # start-up objects out of the GC's way
    config = MessagingConfigProvider()

    # -- rooms -------------------------------------------------------------------------------

    @rpc
    @validated(OpenRoomSchema)
    def open_room(self, args: dict) -> dict:
        """Open (or find) the direct room between the caller and ``other_user_id``.

        Arguments: ``other_user_id``, ``idempotency_key`` (optional).
        Result: the room (as ``get_room``).
        Errors: NotAuthenticated; Forbidden when the two share no job or contract (through an
        interview or contract room); ValidationError on ``other_user_id`` for oneself.
        """
        me = self.caller.authenticated()
        other = args["other_user_id"]
        room_id = direct_room_id(me.user_id, other) if other != me.user_id else None

        def run(uow):
            if room_id is None:
                raise field_error("other_user_id", "You cannot open a room with yourself.")
            room = uow.load(Room, room_id)
            room.open_direct(
                actor_id=me.user_id,
                other_user_id=other,
                shared_job_ids=views.shared_job_ids(uow, me.user_id, other),
                now=self.store.clock.now(),
            )
            uow.save(room)
            return views.room(uow, room_id, me.user_id)

        return self._command("open_room", args, run, me.user_id)

    @rpc
    @validated(ListRoomsSchema)
    def list_rooms(self, args: dict) -> dict:
        """The caller's rooms, latest activity first, with unread counts.

        Arguments: ``before`` (the ``next_cursor`` of the previous page), ``limit`` (1-100,
        default 50).
        Result: ``{"rooms": [room...], "next_cursor": str|null}``.
        Errors: NotAuthenticated; ValidationError on a bad cursor or limit.
        """
        me = self.caller.authenticated()
        with self.store.reading() as uow:
            return views.rooms_of(uow, me.user_id, args["before"], args["limit"])

    @rpc
    @validated(GetRoomSchema)
    def get_room(self, args: dict) -> dict:
        """One room: kind, participants, job/proposal/contract, read-only flag, latest
        activity, message count and the caller's unread count.

        Arguments: ``room_id``.
        Errors: NotAuthenticated; NotFound (unknown room); Forbidden unless a participant or
        a reviewer with recorded access (``request_room_access``).
        """
        me = self.caller.authenticated()
        with self.store.reading() as uow:
            room = uow.load(Room, args["room_id"])
            room.ensure_can_read(me.user_id, me.roles, self.store.clock.now())
            return views.room(uow, room.id, me.user_id)

    @rpc
    @validated(RequestRoomAccessSchema)
    def request_room_access(self, args: dict) -> dict:
        """Record that an operator (for a dispute) or an auditor reads a room; the access is
        the event ``RoomReviewAccessGranted`` and lasts the configured review window.

        Arguments: ``room_id``, ``reason``, ``dispute_id`` (required for operators),
        ``idempotency_key``.
        Result: ``{"room_id", "grantee_id", "expires_at"}``.
        Errors: NotAuthenticated; Forbidden for other roles; ValidationError on ``dispute_id``
        (operator without a dispute) or ``reason``; Conflict for participants; NotFound.
        """
        me = self.caller.authenticated()
        settings = self.config.settings

        def run(uow):
            room = uow.load(Room, args["room_id"])
            room.grant_review_access(
                actor_id=me.user_id,
                roles=me.roles,
                reason=args["reason"],
                dispute_id=args["dispute_id"],
                settings=settings,
                now=self.store.clock.now(),
            )
            granted = room.pending[-1].data
            uow.save(room)
            return {
                "room_id": room.id,
                "grantee_id": me.user_id,
                "role": granted["role"],
                "expires_at": granted["expires_at"],
            }

        return self._command("request_room_access", args, run, me.user_id)

    # -- messages ----------------------------------------------------------------------------

    @rpc
    @validated(SendMessageSchema)
    def send_message(self, args: dict) -> dict:
        """Send text, attachments (uploaded first with ``upload_attachment``), or both.

        Arguments: ``room_id``, ``body`` (up to the configured length), ``attachment_ids``,
        ``idempotency_key``.
        Result: the message as the room shows it (with its ``cursor``).
        Errors: NotAuthenticated; NotFound (room); Forbidden (not a participant); Conflict
        (read-only room); ValidationError on ``body`` (empty without attachment, too long) or
        ``attachment_ids`` (unknown, someone else's, other room, already sent).
        """
        me = self.caller.authenticated()
        settings = self.config.settings

        def run(uow):
            room = uow.load(Room, args["room_id"])
            attachments = [uow.load(Attachment, a) for a in args["attachment_ids"]]
            message = Message(str(uuid.uuid4()))
            message.send(
                room=room,
                actor_id=me.user_id,
                body=args["body"],
                attachments=attachments,
                settings=settings,
                now=self.store.clock.now(),
            )
            uow.save(message, *attachments)
            return views.message(uow, message.id)

        return self._command("send_message", args, run, me.user_id)

    @rpc
    @validated(EditMessageSchema)
    def edit_message(self, args: dict) -> dict:
        """Replace a message's text within the edit window recorded when it was sent; the
        log keeps every version.

        Arguments: ``message_id``, ``body``, ``idempotency_key``.
        Result: the message as the room shows it (``edited`` true).
        Errors: NotAuthenticated; NotFound; Forbidden (not the sender); Conflict (window
        closed, deleted, read-only room); ValidationError on ``body``.
        """
        me = self.caller.authenticated()
        settings = self.config.settings

        def run(uow):
            message, room = self._message_and_room(uow, args["message_id"])
            _ensure_sender(message, me.user_id)
            message.edit(
                room=room,
                actor_id=me.user_id,
                body=args["body"],
                settings=settings,
                now=self.store.clock.now(),
            )
            uow.save(message)
            return views.message(uow, message.id)

        return self._command("edit_message", args, run, me.user_id)

    @rpc
    @validated(DeleteMessageSchema)
    def delete_message(self, args: dict) -> dict:
        """Delete a message within the delete window: the room shows a "deleted" mark, the
        log keeps the text for auditors and dispute mediators.

        Arguments: ``message_id``, ``idempotency_key``.
        Result: the message as the room shows it (``deleted`` true, no body).
        Errors: NotAuthenticated; NotFound; Forbidden (not the sender); Conflict (window
        closed, already deleted, read-only room).
        """
        me = self.caller.authenticated()

        def run(uow):
            message, room = self._message_and_room(uow, args["message_id"])
            _ensure_sender(message, me.user_id)
            message.delete(room=room, actor_id=me.user_id, now=self.store.clock.now())
            uow.save(message)
            return views.message(uow, message.id)

        return self._command("delete_message", args, run, me.user_id)

    @rpc
    @validated(ListMessagesSchema)
    def list_messages(self, args: dict) -> dict:
        """One page of a room's messages, newest first.

        Arguments: ``room_id``, ``before`` (the ``next_cursor`` of the previous page),
        ``limit`` (1-100, default 50).
        Result: ``{"messages": [...], "next_cursor": str|null}``; paging by cursor never
        skips or repeats a message while new ones arrive.
        Errors: NotAuthenticated; NotFound; Forbidden unless a reader of the room.
        """
        me = self.caller.authenticated()
        with self.store.reading() as uow:
            room = uow.load(Room, args["room_id"])
            room.ensure_can_read(me.user_id, me.roles, self.store.clock.now())
            return views.messages(uow, room.id, args["before"], args["limit"])

    @rpc
    @validated(MessageHistorySchema)
    def message_history(self, args: dict) -> dict:
        """Every version of a message (sent, edited, deleted), for auditors and dispute
        mediators with recorded access to its room.

        Arguments: ``message_id``.
        Result: ``{"message_id", "room_id", "versions": [{revision, action, body, by, at}]}``.
        Errors: NotAuthenticated; NotFound; Forbidden for anyone without review access
        (participants included: they see the room's current view).
        """
        me = self.caller.authenticated()
        with self.store.reading() as uow:
            message, room = self._message_and_room(uow, args["message_id"])
            room.ensure_can_see_history(me.user_id, me.roles, self.store.clock.now())
            events = uow.read_stream(Message.stream_for(message.id))
        return {
            "message_id": message.id,
            "room_id": room.id,
            "versions": message_history(events),
        }

    @rpc
    @validated(MarkReadSchema)
    def mark_read(self, args: dict) -> dict:
        """Move the caller's read position in a room up to ``message_id`` (never back).

        Arguments: ``room_id``, ``message_id``, ``idempotency_key``.
        Result: the room as ``get_room`` returns it (with the new unread count).
        Errors: NotAuthenticated; NotFound (room); Forbidden (not a participant);
        ValidationError on ``message_id`` (not in this room).
        """
        me = self.caller.authenticated()

        def run(uow):
            room = uow.load(Room, args["room_id"])
            message = uow.load(Message, args["message_id"])
            position = views.message_position(uow, message.id) if message.exists else None
            reader = uow.load(ReadPosition, read_position_id(room.id, me.user_id))
            reader.mark_read(
                room=room,
                actor_id=me.user_id,
                message=message,
                position=position if position is not None else 0,
                now=self.store.clock.now(),
            )
            uow.save(reader)
            return views.room(uow, room.id, me.user_id)

        return self._command("mark_read", args, run, me.user_id)

    # -- attachments -------------------------------------------------------------------------

    @rpc
    @validated(UploadAttachmentSchema)
    def upload_attachment(self, args: dict) -> dict:
        """Upload a file into a room, to be sent with ``send_message``.

        Arguments: ``room_id``, ``filename``, ``content`` (base64), ``idempotency_key``.
        Result: the attachment's metadata: ``attachment_id``, ``filename`` (cleaned),
        ``content_type`` (detected from the bytes), ``size_bytes``, ``sha256``.
        Errors: NotAuthenticated; NotFound (room); Forbidden (not a participant); Conflict
        (read-only room); ValidationError on ``content`` (empty, over the configured size,
        not base64) or ``filename``.
        """
        me = self.caller.authenticated()
        settings, blobs = self.config.settings, self.config.blobs
        data: bytes = args["content"]
        content = describe_content(data)
        # The command's idempotency digest covers the content's hash, not the bytes.
        digest_args = {**args, "content": content.sha256}

        def run(uow):
            room = uow.load(Room, args["room_id"])
            attachment = Attachment(str(uuid.uuid4()))
            attachment.upload(
                room=room,
                actor_id=me.user_id,
                filename=args["filename"],
                content=content,
                settings=settings,
                now=self.store.clock.now(),
            )
            # Stored before the append: content-addressed, so a failed append leaves only an
            # unreferenced blob, never an event without its bytes.
            blobs.put(data)
            uow.save(attachment)
            return views.attachment(uow, attachment.id)

        return self._command("upload_attachment", digest_args, run, me.user_id)

    @rpc
    @validated(GetAttachmentSchema)
    def get_attachment(self, args: dict) -> dict:
        """Download an attachment; the bytes are verified against their SHA-256 first.

        Arguments: ``attachment_id``.
        Result: the metadata (as ``upload_attachment``) plus ``content`` (base64).
        Errors: NotAuthenticated; NotFound (unknown, or deleted with its message); Forbidden
        (not a reader of the room, or an unsent upload of someone else); BlobCorrupted when
        the stored bytes no longer match their checksum.
        """
        me = self.caller.authenticated()
        with self.store.transaction() as uow:
            attachment = uow.load(Attachment, args["attachment_id"])
            if not attachment.exists:
                raise NotFound(f"attachment {attachment.id} not found")
            room = uow.load(Room, attachment.room_id)
            message = uow.load(Message, attachment.message_id) if attachment.message_id else None
            attachment.ensure_can_download(
                room=room,
                message=message,
                actor_id=me.user_id,
                roles=me.roles,
                now=self.store.clock.now(),
            )
            meta = views.attachment(uow, attachment.id)
        data = self.config.blobs.get(attachment.sha256)
        return {**meta, "content": base64.b64encode(data).decode("ascii")}

    # -- helpers -----------------------------------------------------------------------------

    def _command(self, method: str, args: dict, run, actor: str):
        return self.store.command(
            method, args, run, idempotency_key=args.get("idempotency_key"), actor=actor
        )

    @staticmethod
    def _message_and_room(uow, message_id: str) -> tuple[Message, Room]:
        message = uow.load(Message, message_id)
        if not message.exists:
            raise NotFound(f"message {message_id} not found")
        return message, uow.load(Room, message.room_id)


def _ensure_sender(message, user_id: str) -> None:
    """Only the sender changes a message: checked before the room's state, so that nobody
    else learns whether the room is read-only or the window has closed."""
    if message.exists and message.sender_id != user_id:
        raise Forbidden("only the sender may change a message")
