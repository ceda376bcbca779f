-- Read models of the reputation service, all kept in the append's transaction by
-- services.reputation.read_models.ReputationReadModel and rebuildable from position 0.

-- One row per escrow contract reputation tracks: who its parties are (to find a user's
-- contracts) and where its feedback window stands.
CREATE TABLE IF NOT EXISTS reputation_contracts (
    contract_id      text PRIMARY KEY,
    client_id        text NOT NULL,
    freelancer_id    text NOT NULL,
    kind             text NOT NULL,
    job_id           text,
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    closes_at        timestamptz,
    window_closed_at timestamptz,
    payments         integer NOT NULL DEFAULT 0,
    refunds          integer NOT NULL DEFAULT 0,
    last_position    bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS reputation_contracts_freelancer ON reputation_contracts (freelancer_id);
CREATE INDEX IF NOT EXISTS reputation_contracts_client ON reputation_contracts (client_id);

-- Each side's feedback on a contract: its status and, once revealed, its rating.
CREATE TABLE IF NOT EXISTS reputation_feedback (
    contract_id  text NOT NULL,
    side         text NOT NULL CHECK (side IN ('client', 'freelancer')),
    author_id    text NOT NULL,
    subject_id   text NOT NULL,
    rating       integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    submitted_at timestamptz NOT NULL,
    revealed_at  timestamptz,
    replied_at   timestamptz,
    PRIMARY KEY (contract_id, side)
);
CREATE INDEX IF NOT EXISTS reputation_feedback_subject ON reputation_feedback (subject_id);

-- What reputation knows of each user (from identity's and jobs' events).
CREATE TABLE IF NOT EXISTS reputation_members (
    user_id             text PRIMARY KEY,
    roles               text[] NOT NULL DEFAULT '{}',
    registered_at       timestamptz,
    suspended           boolean NOT NULL DEFAULT false,
    payment_verified_at timestamptz,
    jobs_posted         integer NOT NULL DEFAULT 0
);

-- Each freelancer's Job Success Score and badge, recomputed as their events arrive, as of
-- the recorded time of the event that changed them.
CREATE TABLE IF NOT EXISTS reputation_scores (
    freelancer_id     text PRIMARY KEY,
    as_of             timestamptz NOT NULL,
    score             integer,
    counted_contracts integer NOT NULL,
    distinct_clients  integer NOT NULL,
    positive_weight   integer NOT NULL,
    negative_weight   integer NOT NULL,
    badge             text,
    position          bigint NOT NULL
);
