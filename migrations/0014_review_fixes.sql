-- 0014: two fixes from the review of 0012 and 0013.
--
-- 1. A late reading could be left out of the rollups for good.  The ingest
--    trigger queued its point-hour with ON CONFLICT DO NOTHING; when the hour
--    was already queued, the rollup worker could take (delete) that queue row
--    and recompute the hour before the late reading's transaction committed,
--    and nothing was queued any more.  Touching the existing row instead locks
--    it until the ingest transaction commits: the worker's delete waits, finds
--    a newer row version it did not select, leaves it, and the next tick
--    recomputes the hour with the reading.
-- 2. The enterprises policy took any scope of kind 'system' ('system:0' too)
--    for the internal scope; every other table compares the whole value.

CREATE OR REPLACE FUNCTION dw_readings_mark_late() RETURNS trigger
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7310312016119212);
    -- a new statement, so a new snapshot: it sees the mark as of after the lock
    INSERT INTO rollup_dirty AS x (point_id, hour)
        SELECT DISTINCT n.point_id, date_bin('1 hour', n.collected_at, timestamptz '2000-01-01 00:00:00+00')
        FROM new_readings n, rollup_state s
        WHERE n.collected_at < s.marked_to
        ON CONFLICT (point_id, hour) DO UPDATE SET queued_at = x.queued_at;
    RETURN NULL;
END
$$;
GRANT UPDATE (queued_at) ON rollup_dirty TO dustwatch_app;

DROP POLICY scope ON enterprises;
CREATE POLICY scope ON enterprises
    USING (current_setting('dw.scope', true) = 'system'
           OR (SELECT dw_scope_is_city())
           OR ((SELECT dw_scope_kind()) = 'district' AND district_id = (SELECT dw_scope_id()))
           OR ((SELECT dw_scope_kind()) = 'street' AND street_id = (SELECT dw_scope_id()))
           OR ((SELECT dw_scope_kind()) = 'enterprise' AND id = (SELECT dw_scope_id())))
    WITH CHECK (current_setting('dw.scope', true) = 'system'
           OR (SELECT dw_scope_is_city())
           OR ((SELECT dw_scope_kind()) = 'district' AND district_id = (SELECT dw_scope_id()))
           OR ((SELECT dw_scope_kind()) = 'street' AND street_id = (SELECT dw_scope_id()))
           OR ((SELECT dw_scope_kind()) = 'enterprise' AND id = (SELECT dw_scope_id())));
