-- 0143: late readings are queued for the rollup worker without any writer waiting for another
-- writer or for the worker (issue 20, performance: back-filled ingest answered 503).
--
-- Since 0014 the readings trigger queued each late point-hour with
-- INSERT ... ON CONFLICT (point_id, hour) DO UPDATE on rollup_dirty's key, so that a queued row
-- stayed locked until the late reading committed and the worker could not take the hour and
-- recompute it without that reading.  The price: every writer held the row locks of its
-- point-hours until its commit, so two writers of the same point-hours ran one after the other,
-- and in opposite orders (no ORDER BY) deadlocked; and a writer of an hour the worker was
-- recomputing waited on the deleted row for the worker's whole transaction.  Under back-filled
-- load ingest requests waited until lock_timeout, answered 503 and were sent again
-- (tests/bench/README.md, "Alarm visibility and warning latency, again").
--
-- Now rollup_dirty is a queue that is only inserted into and deleted from, without a unique key:
-- * the trigger inserts the distinct late point-hours of its statement, plain rows, no
--   ON CONFLICT: an insert into a non-unique index waits for nobody, so writers never wait for
--   each other (no row lock at all, hence no deadlock) nor for the worker;
-- * the worker's step takes the oldest max_dirty point-hours and deletes every row of theirs its
--   statement's snapshot sees (by ctid, as before), then recomputes them (dw_rollup_fill below,
--   otherwise 0139's).  A late reading that commits after that snapshot brought its own row,
--   which the delete did not see: it stays queued and the next step recomputes the hour with
--   the reading.  That is
--   0014's invariant (no late reading is left out of the rollups), kept without a lock: the
--   reading and its queue row commit together, and nobody but the worker deletes queue rows
--   (dw_rollup_quarantine runs inside the worker's step);
-- * a point-hour may be queued several times meanwhile.  Its readers ask whether a point-hour
--   is queued and already tolerate repeats: the series (db_points.c) and statistics (db_stats.c)
--   through UNION, the partitions ahead of the fill (db_jobs.c) through UNION, the packer
--   (dw_readings_pack_next, 0137) through EXISTS, dw_rollup_quarantine (0017) deletes every row of
--   its point-hour.  Counts are of distinct point-hours: the fill's dirty_left (below) and the
--   ops_lag backlog (db_ops.c, the dustwatch_rollup_late_backlog metric).  The non-unique index
--   on (point_id, hour) serves the per-point readers.
-- * no id column: the worker deletes the rows it chose by ctid within one statement and nobody
--   updates a row; a key would add a sequence and a second index to every late statement for
--   nothing that reads it.
-- * the price: a point-hour gets one row per late statement until the worker takes it (in
--   alarm_bench's back-fill, ~30 rows per point-hour: 156,000 rows for 5,088 point-hours after
--   100 s), which the worker's take, its dirty_left and the backlog count read whole.  A writer
--   cannot skip a point-hour already queued without 0014's race (the worker may be taking that
--   row in a snapshot without the writer's reading) unless it locks the row, which is what made
--   writers wait.
-- queued_at is now when that statement's late readings arrived; the oldest row of a point-hour
-- still says when its first late reading did.  UPDATE on it is no longer needed.

ALTER TABLE rollup_dirty DROP CONSTRAINT rollup_dirty_pkey;
CREATE INDEX rollup_dirty_point_hour ON rollup_dirty (point_id, hour);
COMMENT ON TABLE rollup_dirty IS 'point-hours whose rollups miss late (back-filled) readings; the worker recomputes them from raw, the series API reads raw for them meanwhile. A queue only inserted into and deleted from (migration 0143): a point-hour may be listed more than once. Holds ids and times only, no tenant values, hence no row-level security';
COMMENT ON COLUMN rollup_dirty.queued_at IS 'when the late readings of the statement that queued this row arrived (the oldest row of a point-hour: its first late reading; for monitoring the backlog)';
COMMENT ON INDEX rollup_dirty_point_hour IS 'is this point-hour queued: the series and the statistics per point (not unique: writers must never wait on each other, migration 0143)';
REVOKE UPDATE (queued_at) ON rollup_dirty FROM dustwatch_app;

-- 0014's trigger function with a plain insert (0012's shared advisory lock kept: dw_rollup_mark
-- still waits for the writers that judged their readings against the old mark).
CREATE OR REPLACE FUNCTION dw_readings_mark_late() RETURNS trigger
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7310312016119212);
    -- a new statement, so a new snapshot: it sees the mark as of after the lock.  No
    -- ON CONFLICT: a point-hour already queued is queued again (migration 0143)
    INSERT INTO rollup_dirty (point_id, hour)
        SELECT DISTINCT n.point_id, date_bin('1 hour', n.collected_at, timestamptz '2000-01-01 00:00:00+00')
        FROM new_readings n, rollup_state s
        WHERE n.collected_at < s.marked_to;
    RETURN NULL;
END
$$;

-- The fill of 0139; only the taking of queued point-hours and the count of those left changed.
CREATE OR REPLACE FUNCTION dw_rollup_fill(max_dirty integer, OUT rolled_from timestamptz, OUT rolled_to timestamptz,
                               OUT minute_rows bigint, OUT dirty_done integer, OUT dirty_left bigint,
                               OUT quarantined integer, OUT quarantine_note text)
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    o constant timestamptz := timestamptz '2000-01-01 00:00:00+00';
    r0 timestamptz;
    r1 timestamptz;
    m date;
    pts bigint[];
    hrs timestamptz[];
    rec record;
    err text;
    k integer;
BEGIN
    minute_rows := 0;
    dirty_done := 0;
    quarantined := 0;
    -- two worker nodes: the second one skips this tick
    IF NOT pg_try_advisory_xact_lock(7310312016119213) THEN
        RETURN;
    END IF;
    SELECT s.rolled_to, s.marked_to INTO r0, r1 FROM rollup_state s FOR UPDATE;
    rolled_from := r0;
    rolled_to := r0;
    IF r1 > r0 THEN
        m := date_trunc('month', r0 AT TIME ZONE 'UTC')::date;
        WHILE (m::timestamp AT TIME ZONE 'UTC') < r1 LOOP
            PERFORM dw_ensure_rollup_partition('hour', m);
            m := (m + interval '1 month')::date;
        END LOOP;
        m := (r0 AT TIME ZONE 'UTC')::date;
        WHILE (m::timestamp AT TIME ZONE 'UTC') < r1 LOOP
            PERFORM dw_ensure_rollup_partition('minute', m);
            m := m + 1;
        END LOOP;
        BEGIN
            minute_rows := dw_rollup_range(r0, r1);
        EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            FOR rec IN SELECT DISTINCT r.point_id, date_bin('1 hour', r.collected_at, o) AS h
                       FROM readings r WHERE r.collected_at >= r0 AND r.collected_at < r1
                         AND (abs(r.value) > 1e12 OR r.value IN ('NaN', 'Infinity', '-Infinity')) LOOP
                k := dw_rollup_quarantine(rec.point_id, rec.h,
                                          err || ' (a value no sensor reports: |value| > 1e12 or not finite)');
                quarantined := quarantined + k;
                IF k > 0 AND quarantine_note IS NULL THEN
                    quarantine_note := format('point_id=%s hour=%s reason=%s', rec.point_id, rec.h, err);
                END IF;
            END LOOP;
            BEGIN
                minute_rows := dw_rollup_range(r0, r1);
            EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
                minute_rows := 0;
                FOR rec IN SELECT DISTINCT r.point_id, date_bin('1 hour', r.collected_at, o) AS h
                           FROM readings r WHERE r.collected_at >= r0 AND r.collected_at < r1
                             AND NOT EXISTS (SELECT 1 FROM rollup_quarantine q WHERE q.point_id = r.point_id
                                             AND q.hour = date_bin('1 hour', r.collected_at, o)) LOOP
                    BEGIN
                        minute_rows := minute_rows + dw_rollup_point_hour(rec.point_id, rec.h, r0, r1);
                    EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
                        GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
                        k := dw_rollup_quarantine(rec.point_id, rec.h, err);
                        quarantined := quarantined + k;
                        IF k > 0 AND quarantine_note IS NULL THEN
                            quarantine_note := format('point_id=%s hour=%s reason=%s', rec.point_id, rec.h, err);
                        END IF;
                    END;
                END LOOP;
            END;
        END;
        UPDATE rollup_state SET rolled_to = r1, updated_at = now();
        rolled_to := r1;
    END IF;

    -- late readings: recompute their whole point-hours from raw, counting only
    -- readings before rolled_to (the rest is the next fill's); quarantined
    -- hours stay raw
    -- (0143) the oldest max_dirty point-hours, every queue row of each that this statement's
    -- snapshot sees (a row committed after it is left for the next step), deleted by ctid as
    -- before: one pass and a sort whatever the statistics say (a join of the chosen point-hours
    -- to the queue, planned on statistics from when the queue was small, ran into the 60 s
    -- statement_timeout on 156,000 rows)
    WITH d AS (
        DELETE FROM rollup_dirty WHERE ctid = ANY (ARRAY(
            SELECT r.ctid FROM (SELECT x.ctid, dense_rank() OVER (ORDER BY x.hour, x.point_id) AS rk
                                FROM rollup_dirty x) r
            WHERE r.rk <= max_dirty))
        RETURNING point_id, hour)
    SELECT array_agg(u.point_id), array_agg(u.hour) INTO pts, hrs FROM (SELECT DISTINCT point_id, hour FROM d) u
        WHERE NOT EXISTS (SELECT 1 FROM rollup_quarantine q WHERE q.point_id = u.point_id AND q.hour = u.hour);
    IF pts IS NOT NULL THEN
        dirty_done := cardinality(pts);
        FOR m IN SELECT DISTINCT date_trunc('month', h AT TIME ZONE 'UTC')::date FROM unnest(hrs) h LOOP
            PERFORM dw_ensure_rollup_partition('hour', m);
        END LOOP;
        FOR m IN SELECT DISTINCT (h AT TIME ZONE 'UTC')::date FROM unnest(hrs) h LOOP
            PERFORM dw_ensure_rollup_partition('minute', m);
        END LOOP;
        DELETE FROM rollup_minute t USING unnest(pts, hrs) d(p, h)
            WHERE t.point_id = d.p AND t.bucket >= d.h AND t.bucket < d.h + interval '1 hour';
        DELETE FROM rollup_hour t USING unnest(pts, hrs) d(p, h) WHERE t.point_id = d.p AND t.bucket = d.h;
        BEGIN
            WITH mins AS (
                INSERT INTO rollup_minute (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
                SELECT d.p, date_bin('1 minute', r.collected_at, o), min(r.enterprise_id), count(*),
                       min(r.value), max(r.value), sum(r.value)
                FROM unnest(pts, hrs) d(p, h)
                CROSS JOIN LATERAL dw_readings(d.p, d.h, least(d.h + interval '1 hour', rolled_to)) r
                GROUP BY 1, 2
                RETURNING point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
            INSERT INTO rollup_hour (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
            SELECT point_id, date_bin('1 hour', bucket, o), min(enterprise_id), sum(n), min(vmin), max(vmax), sum(vsum)
            FROM mins GROUP BY 1, 2;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
            FOR k IN 1 .. cardinality(pts) LOOP
                BEGIN
                    PERFORM dw_rollup_point_hour(pts[k], hrs[k], hrs[k], rolled_to);
                EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
                    GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
                    IF dw_rollup_quarantine(pts[k], hrs[k], err) > 0 THEN
                        quarantined := quarantined + 1;
                        IF quarantine_note IS NULL THEN
                            quarantine_note := format('point_id=%s hour=%s reason=%s', pts[k], hrs[k], err);
                        END IF;
                    END IF;
                END;
            END LOOP;
        END;
    END IF;
    SELECT count(*) INTO dirty_left FROM (SELECT DISTINCT point_id, hour FROM rollup_dirty) x;
END
$$;

COMMENT ON FUNCTION dw_rollup_fill(integer) IS 'worker: rolls readings up to marked_to and recomputes up to max_dirty late point-hours (every queue row of each it sees); a point-hour that cannot be aggregated is quarantined, never blocks the others; skips when another node holds the rollup lock';
