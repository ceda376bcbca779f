-- Read models of the jobs service, all kept in the append's transaction and rebuildable
-- from position 0 of the jobs log (see services/jobs/projections.py).

-- One row per job: what search, best matches and list_my_jobs read.
CREATE TABLE IF NOT EXISTS job_search (
    job_id                  text        PRIMARY KEY,
    client_id               text        NOT NULL,
    status                  text        NOT NULL,
    close_reason            text,
    visibility              text        NOT NULL,
    invitees                text[]      NOT NULL DEFAULT '{}',
    title                   text        NOT NULL,
    description             text        NOT NULL,
    category                text        NOT NULL,
    subcategory             text        NOT NULL,
    skills                  text[]      NOT NULL,
    experience_level        text        NOT NULL,
    project_length          text        NOT NULL,
    hours_per_week          text,
    job_type                text        NOT NULL,
    budget                  jsonb       NOT NULL,
    budget_currency         text        NOT NULL,
    budget_low              bigint      NOT NULL,
    budget_high             bigint      NOT NULL,
    screening_questions     jsonb       NOT NULL,
    attachments             jsonb       NOT NULL,
    contract_to_hire        boolean     NOT NULL,
    proposal_count          integer     NOT NULL DEFAULT 0,
    hire_count              integer     NOT NULL DEFAULT 0,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    published_at            timestamptz,
    closed_at               timestamptz,
    last_activity_at        timestamptz,
    expires_at              timestamptz,
    client_payment_verified boolean     NOT NULL DEFAULT false,
    client_total_hires      integer     NOT NULL DEFAULT 0,
    client_suspended        boolean     NOT NULL DEFAULT false,
    document                tsvector    NOT NULL
);
CREATE INDEX IF NOT EXISTS job_search_document ON job_search USING gin (document);
CREATE INDEX IF NOT EXISTS job_search_skills ON job_search USING gin (skills);
CREATE INDEX IF NOT EXISTS job_search_newest
    ON job_search (status, published_at DESC, job_id DESC);
CREATE INDEX IF NOT EXISTS job_search_client ON job_search (client_id, created_at DESC, job_id DESC);

-- What a job shows about its client, kept from identity's and escrow's events (noted in
-- the jobs log first, so that this table rebuilds from the jobs log alone).
CREATE TABLE IF NOT EXISTS client_stats (
    client_id        text    PRIMARY KEY,
    payment_verified boolean NOT NULL DEFAULT false,
    suspended        boolean NOT NULL DEFAULT false,
    jobs_posted      integer NOT NULL DEFAULT 0,
    total_hires      integer NOT NULL DEFAULT 0,
    hired_job_ids    text[]  NOT NULL DEFAULT '{}',
    spent            jsonb   NOT NULL DEFAULT '{}',
    rating_centi     integer,
    rating_count     integer NOT NULL DEFAULT 0
);

-- What best matches needs of a freelancer's profile, from identity's ProfileUpdated.
CREATE TABLE IF NOT EXISTS freelancer_profiles (
    freelancer_id    text        PRIMARY KEY,
    skills           text[]      NOT NULL DEFAULT '{}',
    hourly_rate      jsonb,
    updated_at       timestamptz NOT NULL
);
