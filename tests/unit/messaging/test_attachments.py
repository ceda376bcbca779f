"""Attachments: upload rules and who may download."""

from __future__ import annotations

import pytest

from services.messaging.content import ContentInfo, describe_content
from services.messaging.domain import Attachment
from services.messaging.settings import MessagingSettings
from shared.clock import iso
from shared.errors import Conflict, Forbidden, NotFound, ValidationError

from .helpers import (
    AUDITOR_ID,
    CLIENT,
    FREELANCER,
    OPERATOR_ID,
    SETTINGS,
    STRANGER,
    T0,
    access_granted,
    attached,
    attachment_uploaded,
    contract_room,
    pending,
    read_only_event,
    sent_message,
    uploaded,
)

ROOM = contract_room()
PDF = b"%PDF-1.4 a contract draft"


def upload(data=PDF, filename="draft.pdf", actor=FREELANCER, room=ROOM, settings=SETTINGS):
    attachment = Attachment("attachment-1")
    attachment.upload(
        room=room,
        actor_id=actor,
        filename=filename,
        content=describe_content(data),
        settings=settings,
        now=T0,
    )
    return attachment


class TestUpload:
    def test_a_participant_uploads_a_file(self):
        assert pending(upload()) == [attachment_uploaded()]
        assert pending(upload())[0][1]["content_type"] == "application/pdf"

    def test_a_stranger_cannot_upload(self):
        with pytest.raises(Forbidden):
            upload(actor=STRANGER)

    def test_no_uploads_into_a_read_only_room(self):
        with pytest.raises(Conflict):
            upload(room=contract_room(read_only_event()))

    def test_a_zero_byte_file_is_refused(self):
        with pytest.raises(ValidationError) as err:
            upload(data=b"")
        assert err.value.fields == {"content": ["The file is empty."]}

    @pytest.mark.parametrize(("size", "ok"), [(1023, True), (1024, True), (1025, False)])
    def test_the_size_limit(self, size, ok):
        settings = MessagingSettings(max_attachment_bytes=1024)
        if ok:
            upload(data=b"a" * size, settings=settings)
        else:
            with pytest.raises(ValidationError, match="invalid input") as err:
                upload(data=b"a" * size, settings=settings)
            assert "1024" in err.value.fields["content"][0]

    def test_the_size_comes_from_the_bytes_not_the_client(self):
        fake = ContentInfo(sha256="0" * 64, size_bytes=0, content_type="text/plain")
        with pytest.raises(ValidationError):
            Attachment("a").upload(
                room=ROOM,
                actor_id=FREELANCER,
                filename="x.txt",
                content=fake,
                settings=SETTINGS,
                now=T0,
            )

    def test_the_filename_is_cleaned(self):
        data = pending(upload(filename="../../etc/pass\x00wd.txt"))[0][1]
        assert data["filename"] == "passwd.txt"

    @pytest.mark.parametrize("name", ["", "   ", "..", "dir/", "\x00"])
    def test_a_filename_is_required(self, name):
        with pytest.raises(ValidationError) as err:
            upload(filename=name)
        assert "filename" in err.value.fields

    def test_an_id_is_used_once(self):
        with pytest.raises(Conflict):
            uploaded().upload(
                room=ROOM,
                actor_id=FREELANCER,
                filename="x",
                content=describe_content(b"x"),
                settings=SETTINGS,
                now=T0,
            )


class TestDownload:
    def check(self, attachment, actor, roles=(), message=None, room=ROOM, now=T0):
        attachment.ensure_can_download(
            room=room, message=message, actor_id=actor, roles=roles, now=now
        )

    def test_an_unsent_upload_is_for_its_uploader_only(self):
        self.check(uploaded(), FREELANCER)
        with pytest.raises(Forbidden):
            self.check(uploaded(), CLIENT)

    def test_both_participants_fetch_a_sent_attachment(self):
        message = sent_message(attachment_ids=("attachment-1",))
        for user in (CLIENT, FREELANCER):
            self.check(uploaded(attached()), user, message=message)

    def test_a_non_participant_is_refused(self):
        message = sent_message(attachment_ids=("attachment-1",))
        with pytest.raises(Forbidden):
            self.check(uploaded(attached()), STRANGER, ("freelancer",), message=message)

    def test_a_deleted_messages_file_is_gone_for_participants(self):
        message = sent_message(
            ("MessageDeleted", {"deleted_by": FREELANCER, "deleted_at": iso(T0)}),
            attachment_ids=("attachment-1",),
        )
        with pytest.raises(NotFound):
            self.check(uploaded(attached()), CLIENT, message=message)

    def test_a_reviewer_fetches_even_a_deleted_messages_file(self):
        message = sent_message(
            ("MessageDeleted", {"deleted_by": FREELANCER, "deleted_at": iso(T0)}),
            attachment_ids=("attachment-1",),
        )
        room = contract_room(access_granted(), access_granted(AUDITOR_ID, "auditor"))
        self.check(uploaded(attached()), OPERATOR_ID, ("operator",), message=message, room=room)
        self.check(uploaded(attached()), AUDITOR_ID, ("auditor",), message=message, room=room)

    def test_files_stay_readable_in_a_read_only_room(self):
        message = sent_message(attachment_ids=("attachment-1",))
        self.check(
            uploaded(attached()), CLIENT, message=message, room=contract_room(read_only_event())
        )

    def test_an_unknown_attachment_is_not_found(self):
        with pytest.raises(NotFound):
            self.check(Attachment("ghost"), CLIENT)
