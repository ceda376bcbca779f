-- The identity read model: one row per account, folded from its user-<id> stream by
-- services/identity/views.apply_event in the append's transaction. Never holds a secret.
CREATE TABLE IF NOT EXISTS user_profiles (
    user_id     text        PRIMARY KEY,
    email       text,
    status      text        NOT NULL,
    roles       text[]      NOT NULL,
    row         jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS user_profiles_email ON user_profiles (email) WHERE email IS NOT NULL;
CREATE INDEX IF NOT EXISTS user_profiles_status ON user_profiles (status);
