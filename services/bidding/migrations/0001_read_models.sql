-- Bidding's read models, kept by services/bidding/read_models.py in the append's transaction,
-- and the one piece of consumer state (jobs closed before bidding saw them published).

CREATE TABLE IF NOT EXISTS bidding_proposals (
    proposal_id    text        PRIMARY KEY,
    job_id         text        NOT NULL,
    client_id      text        NOT NULL,
    freelancer_id  text        NOT NULL,
    status         text        NOT NULL,
    submitted_at   timestamptz NOT NULL,
    row            jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS bidding_proposals_job ON bidding_proposals (job_id);
CREATE INDEX IF NOT EXISTS bidding_proposals_freelancer
    ON bidding_proposals (freelancer_id, submitted_at DESC);

CREATE TABLE IF NOT EXISTS bidding_offers (
    offer_id       text        PRIMARY KEY,
    job_id         text        NOT NULL,
    client_id      text        NOT NULL,
    freelancer_id  text        NOT NULL,
    status         text        NOT NULL,
    sent_at        timestamptz NOT NULL,
    row            jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS bidding_offers_client ON bidding_offers (client_id, sent_at DESC);
CREATE INDEX IF NOT EXISTS bidding_offers_freelancer ON bidding_offers (freelancer_id, sent_at DESC);

-- Each consumed event type has its own queue, so a JobClosed may be handled before the
-- JobPublished it follows; the close waits here and is applied when the job is listed.
CREATE TABLE IF NOT EXISTS bidding_early_closures (
    job_id     text        PRIMARY KEY,
    outcome    text        NOT NULL,
    closed_at  timestamptz NOT NULL
);
