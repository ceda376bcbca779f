-- Search over a narrow table of searchable jobs (issue 4: p95 <= 30 ms at 1,000,000 jobs).
--
-- job_search keeps one wide row per job (drafts and closed jobs included, 2-3 KB each, with
-- screening questions, attachments and the whole description): cards, get_job and
-- list_my_jobs read it. Search reads job_search_open instead: only the rows a search can
-- return (status 'open', client not suspended) and only the columns its filters, order and
-- ranking use, so its pages and indexes stay small and hot. A trigger on job_search keeps it
-- in step in the same transaction as every write (projections, client stats, rebuilds), so
-- nothing else has to know it exists. Idempotent: safe to run on a database that has it.

CREATE TABLE IF NOT EXISTS job_search_open (
    job_id                  text        PRIMARY KEY,
    client_id               text        NOT NULL,
    published_at            timestamptz NOT NULL,
    visibility              text        NOT NULL,
    invitees                text[]      NOT NULL,
    category                text        NOT NULL,
    subcategory             text        NOT NULL,
    skills                  text[]      NOT NULL,
    experience_level        text        NOT NULL,
    project_length          text        NOT NULL,
    hours_per_week          text,
    job_type                text        NOT NULL,
    budget_currency         text        NOT NULL,
    budget_low              bigint      NOT NULL,
    budget_high             bigint      NOT NULL,
    contract_to_hire        boolean     NOT NULL,
    proposal_count          integer     NOT NULL,
    client_payment_verified boolean     NOT NULL,
    client_total_hires      integer     NOT NULL,
    -- the same weighted document as job_search.document (title A, skills B, description C)
    document                tsvector    NOT NULL
) WITH (fillfactor = 90);  -- room for in-place (HOT) updates of proposal counts

-- Newest first, the order of the "newest" sort and of relevance's candidate set.
CREATE INDEX IF NOT EXISTS job_search_open_newest
    ON job_search_open (published_at DESC, job_id DESC);
-- The common filters, each in newest-first order so a filtered page is an index walk.
CREATE INDEX IF NOT EXISTS job_search_open_category_newest
    ON job_search_open (category, published_at DESC, job_id DESC);
CREATE INDEX IF NOT EXISTS job_search_open_subcategory_newest
    ON job_search_open (subcategory, published_at DESC, job_id DESC);
-- Keywords and skills. fastupdate off: no pending list for readers to scan.
CREATE INDEX IF NOT EXISTS job_search_open_document
    ON job_search_open USING gin (document) WITH (fastupdate = off);
CREATE INDEX IF NOT EXISTS job_search_open_skills
    ON job_search_open USING gin (skills) WITH (fastupdate = off);

-- The searchable rows of job_search, in job_search_open's column order.
CREATE OR REPLACE FUNCTION job_search_open_row(j job_search) RETURNS job_search_open
LANGUAGE sql IMMUTABLE AS $$
    SELECT j.job_id, j.client_id, j.published_at, j.visibility, j.invitees, j.category,
           j.subcategory, j.skills, j.experience_level, j.project_length, j.hours_per_week,
           j.job_type, j.budget_currency, j.budget_low, j.budget_high, j.contract_to_hire,
           j.proposal_count, j.client_payment_verified, j.client_total_hires, j.document
$$;

CREATE OR REPLACE FUNCTION job_search_open_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM job_search_open WHERE job_id = OLD.job_id;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.job_id <> NEW.job_id THEN
        DELETE FROM job_search_open WHERE job_id = OLD.job_id;
    END IF;
    IF NEW.status = 'open' AND NOT NEW.client_suspended AND NEW.published_at IS NOT NULL THEN
        INSERT INTO job_search_open SELECT r.* FROM job_search_open_row(NEW) AS r
        ON CONFLICT (job_id) DO UPDATE SET
            client_id = excluded.client_id,
            published_at = excluded.published_at,
            visibility = excluded.visibility,
            invitees = excluded.invitees,
            category = excluded.category,
            subcategory = excluded.subcategory,
            skills = excluded.skills,
            experience_level = excluded.experience_level,
            project_length = excluded.project_length,
            hours_per_week = excluded.hours_per_week,
            job_type = excluded.job_type,
            budget_currency = excluded.budget_currency,
            budget_low = excluded.budget_low,
            budget_high = excluded.budget_high,
            contract_to_hire = excluded.contract_to_hire,
            proposal_count = excluded.proposal_count,
            client_payment_verified = excluded.client_payment_verified,
            client_total_hires = excluded.client_total_hires,
            document = excluded.document
        WHERE (job_search_open.*) IS DISTINCT FROM (excluded.*);
    ELSE
        DELETE FROM job_search_open WHERE job_id = NEW.job_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION job_search_open_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE job_search_open;
    RETURN NULL;
END
$$;

-- Refill from job_search in publish order (new jobs arrive in that order anyway, so the
-- newest-first walks read neighbouring pages). For this migration and for bulk loads that
-- write job_search with the trigger disabled.
CREATE OR REPLACE FUNCTION job_search_open_refill() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    filled bigint;
BEGIN
    TRUNCATE job_search_open;
    INSERT INTO job_search_open
        SELECT r.* FROM job_search AS j CROSS JOIN LATERAL job_search_open_row(j) AS r
        WHERE j.status = 'open' AND NOT j.client_suspended AND j.published_at IS NOT NULL
        ORDER BY j.published_at, j.job_id;
    GET DIAGNOSTICS filled = ROW_COUNT;
    RETURN filled;
END
$$;

CREATE OR REPLACE TRIGGER job_search_open_sync
    AFTER INSERT OR UPDATE OR DELETE ON job_search
    FOR EACH ROW EXECUTE FUNCTION job_search_open_sync();
CREATE OR REPLACE TRIGGER job_search_open_truncate
    AFTER TRUNCATE ON job_search
    FOR EACH STATEMENT EXECUTE FUNCTION job_search_open_truncate();

SELECT job_search_open_refill();

-- Superseded: search and best matches read job_search_open's indexes now. The document
-- column stays on job_search (the trigger copies it).
DROP INDEX IF EXISTS job_search_document;
DROP INDEX IF EXISTS job_search_skills;
DROP INDEX IF EXISTS job_search_newest;
