-- The client's average rating (reputation's ClientRatingUpdated, noted in the jobs log as
-- ClientRatingNoted) copied onto each of the client's job rows, like the other client
-- columns, so job cards show it without reading client_stats. Idempotent.

ALTER TABLE job_search ADD COLUMN IF NOT EXISTS client_rating_centi integer;
ALTER TABLE job_search ADD COLUMN IF NOT EXISTS client_rating_count integer NOT NULL DEFAULT 0;

UPDATE job_search AS j
   SET client_rating_centi = c.rating_centi, client_rating_count = c.rating_count
  FROM client_stats AS c
 WHERE c.client_id = j.client_id
   AND (j.client_rating_centi, j.client_rating_count)
       IS DISTINCT FROM (c.rating_centi, c.rating_count);
