"""Attachments: upload and download through the service, with checksums, limits and access."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from services.messaging.blobstore import BlobCorrupted
from services.messaging.domain import interview_room_id
from shared.errors import Forbidden, NotFound, ValidationError

CLIENT, FREELANCER, STRANGER = "client-1", "freelancer-1", "stranger-1"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + b"\x00" * 64  # a PNG header


@pytest.fixture
def room_id(messaging):
    messaging.proposal_messaged("p-1", "job-1", CLIENT, FREELANCER)
    return interview_room_id("p-1")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def upload(messaging, room_id, data, filename="shot.png", user=CLIENT):
    return messaging.call(
        user, "upload_attachment", room_id=room_id, filename=filename, content=b64(data)
    )


def test_upload_send_and_download_round_trip_with_checksum(messaging, room_id):
    meta = upload(messaging, room_id, PNG, filename="../../etc/shot.png")
    assert meta["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert meta["size_bytes"] == len(PNG) and meta["content_type"] == "image/png"
    assert meta["filename"] == "shot.png" and meta["message_id"] is None

    # before it is sent, only the uploader sees it
    with pytest.raises(Forbidden):
        messaging.call(
            FREELANCER, "get_attachment", "freelancer", attachment_id=meta["attachment_id"]
        )
    sent = messaging.call(
        CLIENT, "send_message", room_id=room_id, body="", attachment_ids=[meta["attachment_id"]]
    )
    assert sent["attachment_ids"] == [meta["attachment_id"]]

    got = messaging.call(
        FREELANCER, "get_attachment", "freelancer", attachment_id=meta["attachment_id"]
    )
    data = base64.b64decode(got["content"])
    assert data == PNG and hashlib.sha256(data).hexdigest() == got["sha256"]
    assert got["message_id"] == sent["message_id"]

    # an attachment goes on one message only
    with pytest.raises(ValidationError) as refused:
        messaging.call(
            CLIENT,
            "send_message",
            room_id=room_id,
            body="again",
            attachment_ids=[meta["attachment_id"]],
        )
    assert "attachment_ids" in refused.value.fields


@pytest.mark.parametrize(
    ("content", "filename", "field"),
    [
        ("", "empty.txt", "content"),  # zero bytes
        (b64(b"x" * 4097), "big.bin", "content"),  # over the configured 4096 bytes
        ("not base64!", "a.txt", "content"),
        (b64(b"ok"), "", "filename"),
        (b64(b"ok"), "///", "filename"),
    ],
)
def test_bad_uploads_are_refused_and_store_nothing(messaging, room_id, content, filename, field):
    before = messaging.log_length()
    with pytest.raises(ValidationError) as refused:
        messaging.call(
            CLIENT, "upload_attachment", room_id=room_id, filename=filename, content=content
        )
    assert field in refused.value.fields
    assert messaging.log_length() == before
    assert not any(p.is_file() for p in Path(messaging.blob_root).rglob("*"))


def test_a_file_at_the_size_limit_is_accepted(messaging, room_id):
    meta = upload(messaging, room_id, b"a" * 4096, filename="limit.txt")
    assert meta["size_bytes"] == 4096 and meta["content_type"] == "text/plain"


def test_a_non_participant_cannot_download(messaging, room_id):
    meta = upload(messaging, room_id, b"secret plans")
    messaging.call(CLIENT, "send_message", room_id=room_id, attachment_ids=[meta["attachment_id"]])
    with pytest.raises(Forbidden):
        messaging.call(STRANGER, "get_attachment", attachment_id=meta["attachment_id"])
    with pytest.raises(NotFound):
        messaging.call(CLIENT, "get_attachment", attachment_id="no-such-attachment")


def test_a_deleted_messages_files_are_gone_for_participants(messaging, room_id):
    meta = upload(messaging, room_id, b"withdrawn")
    sent = messaging.call(
        CLIENT, "send_message", room_id=room_id, attachment_ids=[meta["attachment_id"]]
    )
    messaging.call(CLIENT, "delete_message", message_id=sent["message_id"])
    with pytest.raises(NotFound):
        messaging.call(
            FREELANCER, "get_attachment", "freelancer", attachment_id=meta["attachment_id"]
        )


def test_a_corrupted_blob_is_detected_on_download(messaging, room_id):
    meta = upload(messaging, room_id, b"original bytes")
    messaging.call(CLIENT, "send_message", room_id=room_id, attachment_ids=[meta["attachment_id"]])
    sha = meta["sha256"]
    blob = Path(messaging.blob_root) / sha[:2] / sha[2:4] / sha
    blob.write_bytes(b"tampered bytes")
    with pytest.raises(BlobCorrupted):
        messaging.call(
            FREELANCER, "get_attachment", "freelancer", attachment_id=meta["attachment_id"]
        )
