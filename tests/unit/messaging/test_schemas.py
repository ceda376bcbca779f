"""Input schemas: every RPC method and consumed event is bounded and strict."""

from __future__ import annotations

import base64

import pytest

from services.messaging.schemas import (
    CONSUMED,
    RPC_SCHEMAS,
    ContractEndedSchema,
    ContractStartedSchema,
    EditMessageSchema,
    ListMessagesSchema,
    ListRoomsSchema,
    MarkReadSchema,
    OpenRoomSchema,
    ProposalMessagedSchema,
    RequestRoomAccessSchema,
    SendMessageSchema,
    UploadAttachmentSchema,
    upload_attachment_schema,
)
from services.messaging.settings import BODY_CHARS_CEILING, MessagingSettings
from shared.errors import ValidationError
from shared.schemas import load


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_every_rpc_method_of_the_design_has_a_schema():
    design = {
        "open_room",
        "list_rooms",
        "get_room",
        "send_message",
        "edit_message",
        "delete_message",
        "list_messages",
        "mark_read",
        "upload_attachment",
        "get_attachment",
    }
    assert design <= set(RPC_SCHEMAS)


@pytest.mark.parametrize("name", sorted(RPC_SCHEMAS))
def test_unknown_fields_are_refused(name):
    with pytest.raises(ValidationError) as err:
        load(RPC_SCHEMAS[name](), {"surprise": 1})
    assert "surprise" in err.value.fields


@pytest.mark.parametrize("name", sorted(RPC_SCHEMAS))
def test_a_non_object_is_refused(name):
    with pytest.raises(ValidationError):
        load(RPC_SCHEMAS[name](), ["not", "an", "object"])


class TestSendMessage:
    def test_text_loads_with_defaults(self):
        assert load(SendMessageSchema(), {"room_id": "r", "body": "hi"}) == {
            "room_id": "r",
            "body": "hi",
            "attachment_ids": [],
            "idempotency_key": None,
        }

    def test_an_attachment_alone_is_enough(self):
        load(SendMessageSchema(), {"room_id": "r", "attachment_ids": ["a"]})

    @pytest.mark.parametrize("body", ["", "  \n"])
    def test_an_empty_body_without_attachments_is_refused(self, body):
        with pytest.raises(ValidationError) as err:
            load(SendMessageSchema(), {"room_id": "r", "body": body})
        assert err.value.fields == {"body": ["Write a message or attach a file."]}

    @pytest.mark.parametrize(("extra", "ok"), [(-1, True), (0, True), (1, False)])
    def test_the_body_ceiling(self, extra, ok):
        data = {"room_id": "r", "body": "x" * (BODY_CHARS_CEILING + extra)}
        if ok:
            load(SendMessageSchema(), data)
        else:
            with pytest.raises(ValidationError):
                load(SendMessageSchema(), data)

    @pytest.mark.parametrize(
        "data",
        [
            {"room_id": "", "body": "x"},
            {"room_id": "r" * 65, "body": "x"},
            {"room_id": 5, "body": "x"},
            {"room_id": "r", "body": 5},
            {"room_id": "r", "body": "a\x00b"},
            {"room_id": "r", "attachment_ids": ["a", "a"]},
            {"room_id": "r", "attachment_ids": [f"a{i}" for i in range(21)]},
            {"room_id": "r", "attachment_ids": "a"},
            {"room_id": "r", "body": "x", "idempotency_key": ""},
            {"room_id": "r", "body": "x", "idempotency_key": "k" * 129},
            {"body": "x"},
        ],
    )
    def test_bad_input_is_refused(self, data):
        with pytest.raises(ValidationError):
            load(SendMessageSchema(), data)


def test_edit_needs_a_body_field():
    with pytest.raises(ValidationError):
        load(EditMessageSchema(), {"message_id": "m"})
    assert load(EditMessageSchema(), {"message_id": "m", "body": ""})["body"] == ""


class TestPaging:
    def test_defaults(self):
        assert load(ListMessagesSchema(), {"room_id": "r"}) == {
            "room_id": "r",
            "before": None,
            "limit": 50,
        }

    def test_a_cursor_becomes_a_position(self):
        assert load(ListRoomsSchema(), {"before": "42"})["before"] == 42

    @pytest.mark.parametrize(
        "data",
        [
            {"limit": 0},
            {"limit": 101},
            {"limit": "10"},
            {"limit": 1.0},
            {"limit": True},
            {"before": "x"},
            {"before": "0"},
            {"before": 5},
        ],
    )
    def test_bounds(self, data):
        with pytest.raises(ValidationError):
            load(ListRoomsSchema(), data)

    @pytest.mark.parametrize("limit", [1, 100])
    def test_limit_edges(self, limit):
        assert load(ListRoomsSchema(), {"limit": limit})["limit"] == limit


class TestUpload:
    def test_content_is_decoded(self):
        data = load(
            UploadAttachmentSchema(), {"room_id": "r", "filename": "a.txt", "content": b64(b"hi")}
        )
        assert data["content"] == b"hi"

    @pytest.mark.parametrize(("size", "ok"), [(9, True), (10, True), (11, False)])
    def test_the_configured_size_limit(self, size, ok):
        schema = upload_attachment_schema(MessagingSettings(max_attachment_bytes=10))
        data = {"room_id": "r", "filename": "a", "content": b64(b"x" * size)}
        if ok:
            load(schema, data)
        else:
            with pytest.raises(ValidationError) as err:
                load(schema, data)
            assert err.value.fields == {"content": ["The file is larger than 10 bytes."]}

    def test_a_huge_text_is_refused_before_decoding(self):
        schema = UploadAttachmentSchema(max_bytes=3)
        with pytest.raises(ValidationError):
            load(schema, {"room_id": "r", "filename": "a", "content": "A" * 1000})

    def test_the_limit_is_per_instance(self):
        UploadAttachmentSchema(max_bytes=1)
        load(
            UploadAttachmentSchema(),
            {"room_id": "r", "filename": "a", "content": b64(b"long enough")},
        )

    @pytest.mark.parametrize("content", ["", "not base64!", "YQ", 12, None])
    def test_empty_or_broken_content_is_refused(self, content):
        with pytest.raises(ValidationError) as err:
            load(UploadAttachmentSchema(), {"room_id": "r", "filename": "a", "content": content})
        assert "content" in err.value.fields

    def test_a_filename_is_required(self):
        with pytest.raises(ValidationError):
            load(UploadAttachmentSchema(), {"room_id": "r", "filename": "", "content": b64(b"x")})

    def test_max_bytes_must_be_in_range(self):
        with pytest.raises(ValueError):
            UploadAttachmentSchema(max_bytes=0)


def test_mark_read_and_open_room_take_idempotency_keys():
    assert (
        load(MarkReadSchema(), {"room_id": "r", "message_id": "m", "idempotency_key": "k"})[
            "idempotency_key"
        ]
        == "k"
    )
    assert load(OpenRoomSchema(), {"other_user_id": "u"})["idempotency_key"] is None


def test_room_access_needs_a_reason():
    with pytest.raises(ValidationError):
        load(RequestRoomAccessSchema(), {"room_id": "r", "reason": ""})
    assert (
        load(RequestRoomAccessSchema(), {"room_id": "r", "reason": "audit"})["dispute_id"] is None
    )


class TestConsumedEvents:
    def test_each_consumed_event_has_a_schema(self):
        assert set(CONSUMED) == {
            "ProposalMessaged",
            "ContractStarted",
            "ContractOpened",
            "ContractEnded",
        }

    def test_client_and_freelancer_must_differ(self):
        data = {"proposal_id": "p", "job_id": "j", "client_id": "a", "freelancer_id": "a"}
        with pytest.raises(ValidationError) as err:
            load(ProposalMessagedSchema(), data)
        assert "freelancer_id" in err.value.fields

    @pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T00:00:00", 5])
    def test_times_must_be_iso(self, bad):
        with pytest.raises(ValidationError):
            load(ContractEndedSchema(), {"contract_id": "c", "ended_at": bad})

    def test_fields_we_use_are_required(self):
        for schema in (ProposalMessagedSchema, ContractStartedSchema, ContractEndedSchema):
            with pytest.raises(ValidationError):
                load(schema(), {})

    def test_fields_we_do_not_use_are_dropped(self):
        data = {
            "contract_id": "c",
            "job_id": "j",
            "client_id": "a",
            "freelancer_id": "b",
            "kind": "fixed",
        }
        assert "kind" not in load(ContractStartedSchema(), data)

    @pytest.mark.parametrize("bad", ["", "x" * 65, 7, None])
    def test_ids_are_bounded(self, bad):
        with pytest.raises(ValidationError):
            load(ContractEndedSchema(), {"contract_id": bad})
