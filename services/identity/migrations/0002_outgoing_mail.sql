-- Mail the service owes its users (verification codes), written in the same transaction as
-- the event that needs it. The sandbox mail adapter keeps messages here; a delivery adapter
-- for a real provider sends those with sent_at NULL and stamps them.
CREATE TABLE IF NOT EXISTS outgoing_mail (
    id          bigserial   PRIMARY KEY,
    user_id     text        NOT NULL,
    to_address  text        NOT NULL,
    kind        text        NOT NULL,
    subject     text        NOT NULL,
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL,
    sent_at     timestamptz
);
CREATE INDEX IF NOT EXISTS outgoing_mail_unsent ON outgoing_mail (id) WHERE sent_at IS NULL;
