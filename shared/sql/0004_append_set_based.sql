-- append_events, second form: the whole batch in one statement.
--
-- The batch arrives as one JSON array (one [stream, type, schema_version, data] entry per
-- event, a fifth element when the event's metadata differs from the shared p_metadata)
-- instead of eight parallel arrays, so the client encodes it with a single orjson.dumps and
-- the server parses it once. Event ids are drawn here (gen_random_uuid, 122 random bits)
-- and returned; the hash chain is a running aggregate over the batch in position order;
-- versions, digests, chain and INSERT are one statement.
--
-- Event ids are no longer backed by a unique index: nothing looks events up by id, the
-- database draws every id itself, and the index cost a sixth of a 100-event append.
-- Consumers keep their own (consumer, event_id) key.
--
-- The digest and the chain are unchanged (see 0001): the canonical text is assembled from
-- the parts jsonb would print, which verify() recomputes with jsonb_build_array.

ALTER TABLE events DROP CONSTRAINT IF EXISTS events_event_id_key;

DROP FUNCTION IF EXISTS append_events(
    text[], integer[], uuid[], text[], text[], integer[], jsonb[], jsonb[], timestamptz);

-- One link of the chain: sha256(previous || position int8 || version int4 || digest), the
-- previous hash of the batch's first event being the log's head (seed).
CREATE OR REPLACE FUNCTION events_chain_step(
    state bytea, seed bytea, pos bigint, ver integer, digest bytea
) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN sha256(coalesce(state, seed) || int8send(pos) || int4send(ver) || digest);
END $$;

DROP AGGREGATE IF EXISTS events_chain(bytea, bigint, integer, bytea);
CREATE AGGREGATE events_chain(bytea, bigint, integer, bytea) (
    sfunc = events_chain_step,
    stype = bytea
);

CREATE OR REPLACE FUNCTION append_events(
    p_expected_streams  text[],
    p_expected_versions integer[],
    p_events            jsonb,
    p_metadata          jsonb,
    p_recorded_at       timestamptz
) RETURNS TABLE (out_event_id text, out_position bigint, out_version integer, out_hash bytea)
LANGUAGE plpgsql AS $$
DECLARE
    stamp      text := to_char(p_recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    head_pos   bigint;
    head_hash  bytea;
    appended   bigint;
    bad        record;
BEGIN
    PERFORM pg_advisory_xact_lock(7420001);

    -- every expected version (-1: any), checked at once under the lock
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

    SELECT e.position, e.hash INTO head_pos, head_hash FROM events e ORDER BY e.position DESC LIMIT 1;
    head_pos := coalesce(head_pos, 0);
    head_hash := coalesce(head_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

    RETURN QUERY
    WITH batch AS (
        SELECT t.ord, gen_random_uuid() AS id, t.x ->> 0 AS stream, t.x ->> 1 AS type,
               (t.x ->> 2)::integer AS schema_version, t.x -> 3 AS data,
               coalesce(t.x -> 4, p_metadata) AS metadata
          FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t(x, ord)
    ), current AS MATERIALIZED (
        SELECT d.stream,
               (SELECT coalesce(max(e.version), 0) FROM events e WHERE e.stream = d.stream) AS v
          FROM (SELECT DISTINCT stream FROM batch) d
    ), numbered AS (
        -- each stream's current version plus the event's rank within the batch
        SELECT b.*, (c.v + row_number() OVER (PARTITION BY b.stream ORDER BY b.ord))::integer
                    AS version
          FROM batch b JOIN current c USING (stream)
    ), chained AS (
        SELECT n.*, head_pos + n.ord AS position,
               events_chain(head_hash, head_pos + n.ord, n.version, sha256(convert_to(
                   '["' || n.id::text || '", ' || to_json(n.stream)::text || ', '
                   || to_json(n.type)::text || ', ' || n.schema_version::text || ', '
                   || n.data::text || ', ' || n.metadata::text || ', "' || stamp || '"]',
                   'UTF8'))) OVER (ORDER BY n.ord) AS hash
          FROM numbered n
    ), inserted AS (
        INSERT INTO events (stream, version, position, event_id, type, schema_version, data,
                            metadata, recorded_at, hash)
        SELECT c.stream, c.version, c.position, c.id, c.type, c.schema_version, c.data,
               c.metadata, p_recorded_at, c.hash
          FROM chained c
        RETURNING event_id, position, version, hash
    )
    SELECT i.event_id::text, i.position, i.version, i.hash FROM inserted i ORDER BY i.position;

    GET DIAGNOSTICS appended = ROW_COUNT;
    IF appended > 0 THEN
        PERFORM pg_notify('events_appended', (head_pos + appended)::text);
    END IF;
END $$;
