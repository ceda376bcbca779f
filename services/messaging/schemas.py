"""Input schemas of the messaging service: every RPC method and every consumed event.

Sizes are bounded here by the hard ceilings in ``settings``; the domain then applies the
configured limits (which may be lower). ``UploadAttachmentSchema`` takes the configured
byte limit so that an oversize upload is refused before it is decoded.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC

from marshmallow import EXCLUDE, RAISE, fields, post_load, validate, validates_schema
from marshmallow import ValidationError as MarshmallowValidationError

from shared.schemas import MAX_ID_LEN, BaseSchema, Id, StrictInteger, Text, idempotency_key_field

from .projections import CURSOR_PATTERN
from .settings import (
    ATTACHMENT_BYTES_CEILING,
    ATTACHMENTS_PER_MESSAGE_CEILING,
    BODY_CHARS_CEILING,
    FILENAME_CHARS_CEILING,
    MessagingSettings,
)

MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_REASON_CHARS = 1000


def _no_nul(value: str) -> None:
    # PostgreSQL cannot store U+0000 in text or jsonb.
    if "\x00" in value:
        raise MarshmallowValidationError("Must not contain NUL characters.")


def _unique(values: list) -> None:
    if len(set(values)) != len(values):
        raise MarshmallowValidationError("Each id may appear only once.")


def Cursor() -> fields.String:  # noqa: N802 - reads like a field type
    """An optional paging cursor returned by a previous page."""
    return fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(CURSOR_PATTERN, error="Not a cursor returned by this service."),
    )


def PageLimit() -> StrictInteger:  # noqa: N802
    """Page size, 1 to 100, default 50."""
    return StrictInteger(load_default=DEFAULT_PAGE, validate=validate.Range(min=1, max=MAX_PAGE))


class _PagedSchema(BaseSchema):
    before = Cursor()
    limit = PageLimit()

    @post_load
    def _cursor_to_position(self, data: dict, **kwargs) -> dict:
        # The cursor is the decimal log position; the pattern above has checked its shape.
        if data.get("before") is not None:
            data["before"] = int(data["before"])
        return data


class Base64Content(fields.Field):
    """File bytes sent as standard base64 text, decoded and bounded in size.

    The encoded length is checked before decoding so an oversize upload costs no memory.
    """

    default_error_messages = {
        "invalid": "Must be base64 text.",
        "empty": "The file is empty.",
        "too_large": "The file is larger than {max_bytes} bytes.",
    }

    def __init__(self, max_bytes: int = ATTACHMENT_BYTES_CEILING, **kwargs):
        super().__init__(**kwargs)
        self.max_bytes = max_bytes

    def _deserialize(self, value, attr, data, **kwargs) -> bytes:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if len(value) > 4 * ((self.max_bytes + 2) // 3):
            raise self.make_error("too_large", max_bytes=self.max_bytes)
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise self.make_error("invalid") from None
        if not decoded:
            raise self.make_error("empty")
        if len(decoded) > self.max_bytes:
            raise self.make_error("too_large", max_bytes=self.max_bytes)
        return decoded

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else base64.b64encode(value).decode("ascii")


# -- RPC methods ------------------------------------------------------------------------------


class OpenRoomSchema(BaseSchema):
    """``open_room``: the direct room between the caller and ``other_user_id``."""

    other_user_id = Id(required=True)
    idempotency_key = idempotency_key_field()


class ListRoomsSchema(_PagedSchema):
    """``list_rooms``: the caller's rooms, latest activity first."""


class GetRoomSchema(BaseSchema):
    """``get_room``."""

    room_id = Id(required=True)


class SendMessageSchema(BaseSchema):
    """``send_message``: text, attachments (uploaded first), or both."""

    room_id = Id(required=True)
    body = fields.String(
        load_default="",
        validate=[validate.Length(max=BODY_CHARS_CEILING), _no_nul],
    )
    attachment_ids = fields.List(
        Id(),
        load_default=list,
        validate=[validate.Length(max=ATTACHMENTS_PER_MESSAGE_CEILING), _unique],
    )
    idempotency_key = idempotency_key_field()

    @validates_schema
    def _not_empty(self, data: dict, **kwargs) -> None:
        if not data.get("body", "").strip() and not data.get("attachment_ids"):
            raise MarshmallowValidationError("Write a message or attach a file.", "body")


class EditMessageSchema(BaseSchema):
    """``edit_message``: new text (may be blank only if the message has attachments)."""

    message_id = Id(required=True)
    body = fields.String(required=True, validate=[validate.Length(max=BODY_CHARS_CEILING), _no_nul])
    idempotency_key = idempotency_key_field()


class DeleteMessageSchema(BaseSchema):
    """``delete_message``."""

    message_id = Id(required=True)
    idempotency_key = idempotency_key_field()


class ListMessagesSchema(_PagedSchema):
    """``list_messages``: newest first; ``before`` is the ``cursor`` of the last row seen."""

    room_id = Id(required=True)


class MarkReadSchema(BaseSchema):
    """``mark_read``: the caller has read ``room_id`` up to ``message_id``."""

    room_id = Id(required=True)
    message_id = Id(required=True)
    idempotency_key = idempotency_key_field()


class UploadAttachmentSchema(BaseSchema):
    """``upload_attachment``: base64 ``content`` and a display ``filename``.

    Build it with the configured limit: ``UploadAttachmentSchema(max_bytes=...)`` or
    ``upload_attachment_schema(settings)``.
    """

    room_id = Id(required=True)
    filename = Text(FILENAME_CHARS_CEILING, min_length=1, required=True)
    content = Base64Content(required=True)
    idempotency_key = idempotency_key_field()

    def __init__(self, *args, max_bytes: int = ATTACHMENT_BYTES_CEILING, **kwargs):
        super().__init__(*args, **kwargs)
        if not 1 <= max_bytes <= ATTACHMENT_BYTES_CEILING:
            raise ValueError(f"max_bytes out of range: {max_bytes}")
        # Fields are copied per schema instance, so this bounds only this instance.
        self.fields["content"].max_bytes = max_bytes


def upload_attachment_schema(settings: MessagingSettings) -> UploadAttachmentSchema:
    """The upload schema bounded by the configured attachment size limit."""
    return UploadAttachmentSchema(max_bytes=settings.max_attachment_bytes)


class GetAttachmentSchema(BaseSchema):
    """``get_attachment``: metadata and base64 content, checksum verified."""

    attachment_id = Id(required=True)


class RequestRoomAccessSchema(BaseSchema):
    """``request_room_access`` (operators for a dispute, auditors): recorded review access."""

    room_id = Id(required=True)
    reason = fields.String(
        required=True, validate=[validate.Length(min=1, max=MAX_REASON_CHARS), _no_nul]
    )
    dispute_id = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=MAX_ID_LEN)
    )
    idempotency_key = idempotency_key_field()


class MessageHistorySchema(BaseSchema):
    """``message_history``: every version of a message, for reviewers."""

    message_id = Id(required=True)


RPC_SCHEMAS: dict[str, type[BaseSchema]] = {
    "open_room": OpenRoomSchema,
    "list_rooms": ListRoomsSchema,
    "get_room": GetRoomSchema,
    "send_message": SendMessageSchema,
    "edit_message": EditMessageSchema,
    "delete_message": DeleteMessageSchema,
    "list_messages": ListMessagesSchema,
    "mark_read": MarkReadSchema,
    "upload_attachment": UploadAttachmentSchema,
    "get_attachment": GetAttachmentSchema,
    "request_room_access": RequestRoomAccessSchema,
    "message_history": MessageHistorySchema,
}


# -- consumed events --------------------------------------------------------------------------


class _ConsumedEventSchema(BaseSchema):
    """Data of another service's event.

    The fields messaging uses are required and bounded; other fields are dropped rather than
    refused (a tolerant reader), so that the producing service can add fields without parking
    every event in the dead-letter queue. See README, "Consumed events".
    """

    class Meta:
        unknown = EXCLUDE


def OccurredAt() -> fields.AwareDateTime:  # noqa: N802
    """When the event happened at its source: optional ISO 8601, naive taken as UTC."""
    return fields.AwareDateTime(
        format="iso", default_timezone=UTC, load_default=None, allow_none=True
    )


class _TwoPartiesSchema(_ConsumedEventSchema):
    job_id = Id(required=True)
    client_id = Id(required=True)
    freelancer_id = Id(required=True)

    @validates_schema
    def _two_people(self, data: dict, **kwargs) -> None:
        if data.get("client_id") == data.get("freelancer_id"):
            raise MarshmallowValidationError("Client and freelancer must differ.", "freelancer_id")


class ProposalMessagedSchema(_TwoPartiesSchema):
    """bidding ``ProposalMessaged``: opens the interview room."""

    proposal_id = Id(required=True)
    messaged_at = OccurredAt()


class ContractStartedSchema(_TwoPartiesSchema):
    """escrow ``ContractStarted``: opens the contract room."""

    contract_id = Id(required=True)
    started_at = OccurredAt()


class ContractOpenedSchema(_TwoPartiesSchema):
    """escrow ``ContractOpened`` (its contract stream's first event): opens the same room."""

    contract_id = Id(required=True)
    opened_at = OccurredAt()


class ContractEndedSchema(_ConsumedEventSchema):
    """escrow ``ContractEnded``: the contract room becomes read-only."""

    contract_id = Id(required=True)
    ended_at = OccurredAt()


CONSUMED: dict[str, type[BaseSchema]] = {
    "ProposalMessaged": ProposalMessagedSchema,
    "ContractStarted": ContractStartedSchema,
    "ContractOpened": ContractOpenedSchema,
    "ContractEnded": ContractEndedSchema,
}


# -- consumed events, exactly as their producers record them -----------------------------------
#
# ``shared.consumers.consume`` validates the data of each consumed event with these: every
# field the producer's event carries is listed (see services/bidding and services/escrow:
# README "Events" and the ``record`` calls), and any other field is refused, so a change of
# the producer's contract is parked in the dead letters rather than half understood.


def _when() -> fields.AwareDateTime:
    return fields.AwareDateTime(format="iso", default_timezone=UTC, required=True)


def _optional_id() -> fields.String:
    return fields.String(
        required=True, allow_none=True, validate=validate.Length(min=1, max=MAX_ID_LEN)
    )


class ProposalMessagedEvent(_TwoPartiesSchema):
    """bidding ``ProposalMessaged`` {proposal_id, job_id, client_id, freelancer_id,
    messaged_at} (``services/bidding/proposal.py``): opens the interview room."""

    class Meta:
        unknown = RAISE

    proposal_id = Id(required=True)
    messaged_at = _when()


class ContractOpenedEvent(_TwoPartiesSchema):
    """escrow ``ContractOpened`` (first event of ``contract-<id>``, ``services/escrow/domain.py``):
    opens the contract room. Only the ids and ``opened_at`` are used; the terms are checked
    for shape only."""

    class Meta:
        unknown = RAISE

    contract_id = Id(required=True)
    offer_id = Id(required=True)
    proposal_id = _optional_id()
    kind = fields.String(required=True, validate=validate.OneOf(["fixed", "hourly"]))
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    start_date = fields.String(required=True, allow_none=True, validate=validate.Length(max=32))
    fees = fields.Dict(keys=fields.String(), values=fields.Integer(strict=True), required=True)
    hourly_rate = fields.Dict(required=True, allow_none=True)
    weekly_limit_hours = fields.Integer(strict=True, required=True, allow_none=True)
    manual_time_allowed = fields.Boolean(required=True)
    opened_at = _when()


class ContractEndedEvent(_TwoPartiesSchema):
    """escrow ``ContractEnded`` {contract_id, job_id, client_id, freelancer_id, ended_by,
    reason, ended_at}: the contract room becomes read-only."""

    class Meta:
        unknown = RAISE

    contract_id = Id(required=True)
    ended_by = Id(required=True)
    reason = fields.String(required=True, allow_none=True, validate=validate.Length(max=5000))
    ended_at = _when()


PRODUCER_EVENTS: dict[tuple[str, str], type[BaseSchema]] = {
    ("bidding", "ProposalMessaged"): ProposalMessagedEvent,
    ("escrow", "ContractOpened"): ContractOpenedEvent,
    ("escrow", "ContractEnded"): ContractEndedEvent,
}
