-- The event log of one service, and the bookkeeping tables every service shares.
-- Applied to each service's own database before the service's own migrations.

CREATE TABLE IF NOT EXISTS events (
    stream          text        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    position        bigint      NOT NULL CHECK (position > 0),
    event_id        uuid        NOT NULL,
    type            text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    hash            bytea       NOT NULL,
    -- optimistic concurrency: two writers of the same stream version cannot both commit
    PRIMARY KEY (stream, version),
    UNIQUE (position),
    UNIQUE (event_id)
);

-- The log is append-only: the database itself refuses to change or remove an event.
CREATE OR REPLACE FUNCTION events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

DROP TRIGGER IF EXISTS events_no_update_delete ON events;
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
DROP TRIGGER IF EXISTS events_no_truncate ON events;
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;

-- Appends events to one or several streams atomically.
--
-- Appenders are serialised by a transaction-scoped advisory lock, so positions are handed
-- out in commit order and a reader tailing by position never skips a late commit. Each
-- expected version (-1: any) is checked under that lock; a mismatch raises SQLSTATE MV409
-- and nothing is written. Each event's hash is
--   sha256(previous hash || position as int8 || version as int4 || content digest)
-- where the content digest is sha256 of the event's canonical text: the jsonb text form of
--   [event_id, stream, type, schema_version, data, metadata, recorded_at as ISO 8601 UTC].
-- shared/eventstore/hashing.py computes the same bytes in Python for verification.
-- p_metadata holds one entry per event, or a single entry shared by all of them.
CREATE OR REPLACE FUNCTION append_events(
    p_expected_streams  text[],
    p_expected_versions integer[],
    p_event_ids         uuid[],
    p_streams           text[],
    p_types             text[],
    p_schema_versions   integer[],
    p_data              jsonb[],
    p_metadata          jsonb[],
    p_recorded_at       timestamptz
) RETURNS TABLE (out_position bigint, out_version integer, out_hash bytea)
LANGUAGE plpgsql AS $$
DECLARE
    n          integer := coalesce(array_length(p_event_ids, 1), 0);
    shared_md  boolean := coalesce(array_length(p_metadata, 1), 0) = 1;
    head_pos   bigint;
    head_hash  bytea;
    bad        record;
    vers       integer[];
    digests    bytea[];
    positions  bigint[];
    hashes     bytea[];
    i          integer;
BEGIN
    PERFORM pg_advisory_xact_lock(7420001);

    -- every expected version, checked at once under the lock
    SELECT c.stream, c.expected, c.actual INTO bad
      FROM (SELECT x.stream, x.expected,
                   (SELECT coalesce(max(e.version), 0) FROM events e WHERE e.stream = x.stream) AS actual
              FROM unnest(p_expected_streams, p_expected_versions) AS x(stream, expected)
             WHERE x.expected >= 0) c
     WHERE c.actual <> c.expected
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', bad.stream, bad.actual, bad.expected
            USING ERRCODE = 'MV409';
    END IF;

    -- versions: each stream's current version plus the event's rank within the batch;
    -- content digests of the whole batch in the same set-based pass
    WITH batch AS (
        SELECT u.ord, u.s FROM unnest(p_streams) WITH ORDINALITY AS u(s, ord)
    ), current AS (
        SELECT d.s, (SELECT coalesce(max(e.version), 0) FROM events e WHERE e.stream = d.s) AS v
          FROM (SELECT DISTINCT s FROM batch) d
    ), numbered AS (
        SELECT b.ord, c.v + row_number() OVER (PARTITION BY b.s ORDER BY b.ord) AS version
          FROM batch b JOIN current c USING (s)
    )
    SELECT array_agg(version::integer ORDER BY ord),
           array_agg(sha256(convert_to(jsonb_build_array(
               p_event_ids[ord]::text, p_streams[ord], p_types[ord], p_schema_versions[ord],
               p_data[ord], CASE WHEN shared_md THEN p_metadata[1] ELSE p_metadata[ord] END,
               to_char(p_recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text,
               'UTF8')) ORDER BY ord)
      INTO vers, digests
      FROM numbered;

    SELECT e.position, e.hash INTO head_pos, head_hash FROM events e ORDER BY e.position DESC LIMIT 1;
    head_pos := coalesce(head_pos, 0);
    head_hash := coalesce(head_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

    -- only the chain itself is sequential
    positions := array_fill(0::bigint, ARRAY[n]);
    hashes := array_fill(''::bytea, ARRAY[n]);
    FOR i IN 1 .. n LOOP
        head_pos := head_pos + 1;
        head_hash := sha256(head_hash || int8send(head_pos) || int4send(vers[i]) || digests[i]);
        positions[i] := head_pos;
        hashes[i] := head_hash;
    END LOOP;

    INSERT INTO events (stream, version, position, event_id, type, schema_version, data,
                        metadata, recorded_at, hash)
    SELECT p_streams[k], vers[k], positions[k], p_event_ids[k], p_types[k], p_schema_versions[k],
           p_data[k], CASE WHEN shared_md THEN p_metadata[1] ELSE p_metadata[k] END,
           p_recorded_at, hashes[k]
      FROM generate_series(1, n) AS g(k);

    IF n > 0 THEN
        PERFORM pg_notify('events_appended', head_pos::text);
    END IF;

    RETURN QUERY SELECT * FROM unnest(positions, vers, hashes);
END $$;

-- Where the relay got to: the last position confirmed by the broker.
CREATE TABLE IF NOT EXISTS relay_position (
    relay       text   PRIMARY KEY,
    position    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Exactly-once effects of consumed events: written in the same transaction as the effect.
CREATE TABLE IF NOT EXISTS processed_events (
    consumer      text        NOT NULL,
    event_id      uuid        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Messages whose handler kept failing, parked for an operator to inspect and replay.
CREATE TABLE IF NOT EXISTS dead_letters (
    id            bigserial   PRIMARY KEY,
    consumer      text        NOT NULL,
    queue         text        NOT NULL,
    routing_key   text        NOT NULL,
    event_id      uuid,
    body          jsonb       NOT NULL,
    headers       jsonb       NOT NULL,
    error         text        NOT NULL,
    attempts      integer     NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now(),
    replayed_at   timestamptz
);

-- Idempotent commands: the first result under a key is returned to every retry.
CREATE TABLE IF NOT EXISTS command_results (
    key           text        PRIMARY KEY,
    request_hash  bytea       NOT NULL,
    result        jsonb       NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);

-- Deadlines of time windows, fired by the service's timer.
CREATE TABLE IF NOT EXISTS deadlines (
    id          text        PRIMARY KEY,
    kind        text        NOT NULL,
    due_at      timestamptz NOT NULL,
    payload     jsonb       NOT NULL,
    fired_at    timestamptz,
    outcome     text
);
CREATE INDEX IF NOT EXISTS deadlines_due ON deadlines (due_at) WHERE fired_at IS NULL;
