-- messaging read models, kept by projections.MessagingProjection in the append's transaction.
-- All of them can be rebuilt from position 0 of the log.

CREATE TABLE IF NOT EXISTS msg_rooms (
    room_id                 text    PRIMARY KEY,
    kind                    text    NOT NULL,
    participants            text[]  NOT NULL,
    job_id                  text    NOT NULL,
    proposal_id             text,
    contract_id             text,
    opened_at               text    NOT NULL,
    read_only               boolean NOT NULL DEFAULT false,
    last_activity_position  bigint  NOT NULL,
    last_activity_at        text    NOT NULL,
    last_message_id         text,
    message_count           integer NOT NULL DEFAULT 0
);

-- Who takes part in which room: the room list per user and the shared-job directory.
CREATE TABLE IF NOT EXISTS msg_room_members (
    user_id  text NOT NULL,
    room_id  text NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
CREATE INDEX IF NOT EXISTS msg_room_members_room ON msg_room_members (room_id);

CREATE TABLE IF NOT EXISTS msg_messages (
    message_id      text     PRIMARY KEY,
    room_id         text     NOT NULL,
    sender_id       text     NOT NULL,
    body            text     NOT NULL,
    attachment_ids  text[]   NOT NULL,
    sent_at         text     NOT NULL,
    position        bigint   NOT NULL,
    revision        integer  NOT NULL DEFAULT 1,
    edited_at       text,
    deleted         boolean  NOT NULL DEFAULT false,
    deleted_at      text
);
-- Keyset paging newest first and unread counts both walk a room by position.
CREATE UNIQUE INDEX IF NOT EXISTS msg_messages_room_position ON msg_messages (room_id, position);

CREATE TABLE IF NOT EXISTS msg_attachments (
    attachment_id  text    PRIMARY KEY,
    room_id        text    NOT NULL,
    uploader_id    text    NOT NULL,
    filename       text    NOT NULL,
    content_type   text    NOT NULL,
    size_bytes     bigint  NOT NULL,
    sha256         text    NOT NULL,
    uploaded_at    text    NOT NULL,
    message_id     text
);

CREATE TABLE IF NOT EXISTS msg_read_positions (
    room_id   text    NOT NULL,
    user_id   text    NOT NULL,
    position  bigint  NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
