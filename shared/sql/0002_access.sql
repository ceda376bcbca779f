-- Users suspended by an operator, as this service learned from identity's events.
CREATE TABLE IF NOT EXISTS suspended_users (
    user_id       text        PRIMARY KEY,
    reason        text        NOT NULL,
    suspended_at  timestamptz NOT NULL
);
