-- Signed chain heads taken by auditors (shared/audit/checkpoints.py). A checkpoint kept
-- here can be deleted by whoever can tamper with the log, so auditors also keep their own
-- copy (``marketplace audit checkpoint --out``); verify accepts either.
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    id          bigserial   PRIMARY KEY,
    service     text        NOT NULL,
    position    bigint      NOT NULL CHECK (position >= 0),
    hash        bytea       NOT NULL,
    taken_at    timestamptz NOT NULL,
    key_id      text        NOT NULL,
    signature   bytea       NOT NULL
);
