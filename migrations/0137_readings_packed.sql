-- 0137: readings of whole UTC days older than readings_pack_after_days are kept packed
-- (issue 20, storage: at most 40 bytes on disk per reading older than a week).
--
-- A row of readings costs about 100 bytes on disk: a 24-byte tuple header and item pointer
-- for 34 bytes of data, and a primary-key entry of (point, instant).  Old readings are
-- only ever read per point and time range, so a point's day is stored as one row of
-- arrays: the instants as offsets from the day's start (int4 milliseconds when every
-- reading of the point-day falls on a whole millisecond, int8 microseconds otherwise, so
-- every instant comes back exactly), the values as float8 (unchanged bits), the
-- qualities only when one of them is not 0.  The arrays are large enough to be
-- compressed and moved to TOAST; 8 to 13 bytes per reading remain (tests/bench/README.md).
--
-- The worker packs the oldest day still partitioned below today - readings_pack_after_days,
-- a bounded number of readings per step (dw_readings_pack_next): the first step moves the
-- horizon (readings_pack_state.packed_before) past the day, each step moves whole points'
-- rows from the partition into this table in one statement, the last drops the empty
-- partition.  Below the horizon no partition can be created again
-- (dw_ensure_readings_partition raises) and the partition being emptied refuses inserts, so a
-- (point, instant) is stored in one layout only; the ingest writer refuses readings of
-- packed days per item (day_packed).
-- dw_readings(point, from, to) reads both layouts with the same answers; every reader of
-- old readings goes through it.

CREATE TABLE readings_packed (
    point_id       bigint NOT NULL,
    day            date NOT NULL,
    enterprise_id  bigint NOT NULL,
    offsets_ms     integer[],
    offsets_us     bigint[],
    vals           double precision[] NOT NULL,
    quals          smallint[],
    PRIMARY KEY (point_id, day),
    -- exactly one encoding of the instants, one entry per reading in every array
    CHECK ((offsets_ms IS NULL) <> (offsets_us IS NULL)),
    CHECK (cardinality(vals) > 0 AND cardinality(vals) = cardinality(coalesce(offsets_ms, offsets_us))),
    CHECK (quals IS NULL OR cardinality(quals) = cardinality(vals)),
    CHECK (array_ndims(vals) = 1)
);
COMMENT ON TABLE readings_packed IS 'readings of UTC days below readings_pack_state.packed_before, one row per point and day (dw_readings_pack_next moves them here, dw_readings reads them); no instant is also in readings';
COMMENT ON COLUMN readings_packed.point_id IS 'the point (readings.point_id)';
COMMENT ON COLUMN readings_packed.day IS 'the UTC day the readings fall on';
COMMENT ON COLUMN readings_packed.enterprise_id IS 'copied from the readings so row-level security needs no join';
COMMENT ON COLUMN readings_packed.offsets_ms IS 'instants as milliseconds after the day''s start (00:00 UTC), ascending; used when every reading of the point-day falls on a whole millisecond, else NULL';
COMMENT ON COLUMN readings_packed.offsets_us IS 'instants as microseconds after the day''s start, ascending; used when offsets_ms cannot hold them exactly, else NULL';
COMMENT ON COLUMN readings_packed.vals IS 'the values, in the order of the instants';
COMMENT ON COLUMN readings_packed.quals IS 'the qualities (0 good, 1 suspect, 2 bad) in the order of the instants; NULL when all are 0';

ALTER TABLE readings_packed ENABLE ROW LEVEL SECURITY;
ALTER TABLE readings_packed FORCE ROW LEVEL SECURITY;
-- the shape of every tenant policy since 0013, as on readings
CREATE POLICY scope ON readings_packed
    USING (current_setting('dw.scope', true) = 'system' OR enterprise_id = (SELECT dw_focus_enterprise())
           OR (SELECT dw_scope_is_city()) OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR enterprise_id = (SELECT dw_focus_enterprise())
           OR (SELECT dw_scope_is_city()) OR enterprise_id IN (SELECT e.id FROM enterprises e));
-- written only by dw_readings_pack_next (as the owner), deleted by retention
GRANT SELECT ON readings_packed TO dustwatch_app;

CREATE TABLE readings_pack_state (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    packed_before  date,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE readings_pack_state IS 'the packing horizon (one row)';
COMMENT ON COLUMN readings_pack_state.id IS 'always true: the table has one row';
COMMENT ON COLUMN readings_pack_state.packed_before IS 'readings of UTC days before this are in readings_packed (the oldest partition below it may still be moving there, refusing inserts), no partition is created for them and ingest refuses them; NULL: nothing packed yet';
COMMENT ON COLUMN readings_pack_state.updated_at IS 'when the horizon last moved';
INSERT INTO readings_pack_state (packed_before) VALUES (NULL);
GRANT SELECT ON readings_pack_state TO dustwatch_app;

-- Readers: a point's readings in [t0, t1) from both layouts.  LANGUAGE sql, STABLE and
-- not SECURITY DEFINER so the planner inlines it: the partitions arm keeps its pruning and
-- its primary-key index, the packed arm is one index range of (point, day) limited to the
-- days of the range, and row-level security applies as to the caller's own query.  The
-- instants come back exactly: int4 milliseconds times 1000 and int8 microseconds are
-- exact doubles below 2^53 when multiplied with interval '1 microsecond', as the ingest
-- writer computes them.
CREATE FUNCTION dw_readings(p bigint, t0 timestamptz, t1 timestamptz)
RETURNS TABLE (collected_at timestamptz, value double precision, quality smallint, enterprise_id bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.collected_at, r.value, r.quality, r.enterprise_id FROM readings r
        WHERE r.point_id = p AND r.collected_at >= t0 AND r.collected_at < t1
    UNION ALL
    SELECT u.at, u.v, u.q, u.e FROM (
        SELECT (k.day::timestamp AT TIME ZONE 'UTC')
                   + coalesce(x.us, x.ms * 1000::bigint) * interval '1 microsecond' AS at,
               x.v, coalesce(x.q, 0::smallint) AS q, k.enterprise_id AS e
        FROM readings_packed k
        CROSS JOIN LATERAL unnest(k.offsets_ms, k.offsets_us, k.vals, k.quals) AS x(ms, us, v, q)
        WHERE k.point_id = p AND k.day >= (t0 AT TIME ZONE 'UTC')::date
          AND k.day <= ((t1 - interval '1 microsecond') AT TIME ZONE 'UTC')::date) u
        WHERE u.at >= t0 AND u.at < t1
$$;
COMMENT ON FUNCTION dw_readings(bigint, timestamptz, timestamptz) IS 'a point''s readings in [t0, t1) from the day partitions and readings_packed (inlined by the planner; row-level security of the caller)';
GRANT EXECUTE ON FUNCTION dw_readings(bigint, timestamptz, timestamptz) TO dustwatch_app;

-- 0004's function, refusing the days below the horizon.  The fast path (the partition
-- exists) stays lock-free; creating one waits for a running pack step (its row lock on
-- readings_pack_state) and then sees the horizon it committed, so a day cannot get a
-- partition again once it is packed.  object_not_in_prerequisite_state: the server
-- answers the batch 503 (retry), and the retry is refused per item (day_packed).
CREATE OR REPLACE FUNCTION dw_ensure_readings_partition(day date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    part text := 'readings_' || to_char(day, 'YYYYMMDD');
    horizon date;
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(part));
    SELECT s.packed_before INTO horizon FROM readings_pack_state s FOR SHARE;
    IF day < horizon THEN
        RAISE EXCEPTION 'readings of % are packed', day
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Days before %s are kept in readings_packed; no partition is created for them.', horizon);
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
                       part, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        RETURN false;
    END;
    RETURN true;
END
$$;
COMMENT ON FUNCTION dw_ensure_readings_partition(date) IS 'creates the daily readings partition for a UTC day if missing; safe under concurrent callers; raises for a day below the packing horizon';

-- Retention drops packed days with the partitions: the same cutoff, readings_retention_days.
CREATE OR REPLACE FUNCTION dw_drop_readings_partitions_before(cutoff date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'readings'::regclass AND c.relname ~ '^readings_[0-9]{8}$'
               AND to_date(substr(c.relname, 10), 'YYYYMMDD') < cutoff LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        n := n + 1;
    END LOOP;
    DELETE FROM readings_packed WHERE day < cutoff;
    RETURN n;
END
$$;
COMMENT ON FUNCTION dw_drop_readings_partitions_before(date) IS 'retention: drops daily readings partitions and packed days older than cutoff; answers the partitions dropped';

-- Ingest into a day being packed: the horizon already refuses it (day_packed); a writer
-- that read the horizon before it moved meets this trigger on the day's partition.
-- object_not_in_prerequisite_state: the batch is answered 503 and its retry refused per
-- item, rather than 422 for a batch that was valid when it was decoded.
CREATE FUNCTION dw_readings_refuse_packed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'readings of % are being packed', TG_TABLE_NAME
        USING ERRCODE = 'object_not_in_prerequisite_state';
END
$$;
COMMENT ON FUNCTION dw_readings_refuse_packed() IS 'trigger on a readings partition being packed: refuses inserts (the day is below the packing horizon)';

-- The worker's pack step, its own transaction, bounded: it moves the rows of whole points
-- (about max_rows readings) of the oldest partition before pack_before into readings_packed,
-- deleting them from the partition in the same statement, so every (point, instant) is in
-- exactly one layout at every commit and dw_readings answers the same throughout.  The first
-- step of a day moves the horizon past it and puts dw_readings_refuse_packed on its
-- partition (its lock waits for the writers already inserting there; they commit first and
-- are packed); the step that empties the partition drops it, as retention does.  A day
-- waits until its rollups are complete (below rolled_to, no late hour queued), so no rollup
-- is computed from a day while it moves.  A day is packed in steps, not in one transaction:
-- a city's day (40,000 points every 10 s: 345 million readings) would hold one transaction
-- and its sort for many minutes.
CREATE FUNCTION dw_readings_pack_next(pack_before date, max_rows integer, OUT packed_day date,
                                      OUT packed_readings bigint, OUT point_days bigint,
                                      OUT day_done boolean, OUT waiting text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    horizon date;
    part text;
    d0 timestamptz;
    moved bigint;
BEGIN
    packed_readings := 0;
    point_days := 0;
    day_done := false;
    SELECT s.packed_before INTO horizon FROM readings_pack_state s FOR UPDATE;
    SELECT min(to_date(substr(c.relname, 10), 'YYYYMMDD')) INTO packed_day
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'readings'::regclass AND c.relname ~ '^readings_[0-9]{8}$'
          AND to_date(substr(c.relname, 10), 'YYYYMMDD') < pack_before;
    IF packed_day IS NULL THEN
        -- no partition left below pack_before: days without one have no readings to pack
        IF horizon IS NULL OR horizon < pack_before THEN
            UPDATE readings_pack_state SET packed_before = pack_before, updated_at = now();
        END IF;
        RETURN;
    END IF;
    d0 := packed_day::timestamp AT TIME ZONE 'UTC';
    part := 'readings_' || to_char(packed_day, 'YYYYMMDD');
    IF horizon IS NULL OR horizon <= packed_day THEN
        IF (SELECT s.rolled_to < d0 + interval '1 day' FROM rollup_state s) THEN
            waiting := 'the rollups have not passed the day';
            packed_day := NULL;
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM rollup_dirty x WHERE x.hour >= d0 AND x.hour < d0 + interval '1 day') THEN
            waiting := 'late hours of the day wait for the rollup worker';
            packed_day := NULL;
            RETURN;
        END IF;
        EXECUTE format('CREATE TRIGGER readings_refuse_packed BEFORE INSERT ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION dw_readings_refuse_packed()', part);
        UPDATE readings_pack_state SET packed_before = packed_day + 1, updated_at = now();
    END IF;
    EXECUTE format($q$
        WITH pts AS (SELECT DISTINCT x.point_id FROM (SELECT r.point_id FROM %1$I r
                                                      ORDER BY r.point_id LIMIT $3) x),
        moved AS (DELETE FROM %1$I r USING pts WHERE r.point_id = pts.point_id
                  RETURNING r.point_id, r.enterprise_id, r.value, r.quality,
                            (extract(epoch FROM r.collected_at - $2) * 1000000)::bigint AS us),
        ins AS (
            INSERT INTO readings_packed (point_id, day, enterprise_id, offsets_ms, offsets_us, vals, quals)
            SELECT t.point_id, $1, t.enterprise_id,
                   CASE WHEN bool_and(t.us %% 1000 = 0) THEN array_agg((t.us / 1000)::integer ORDER BY t.us) END,
                   CASE WHEN NOT bool_and(t.us %% 1000 = 0) THEN array_agg(t.us ORDER BY t.us) END,
                   array_agg(t.value ORDER BY t.us),
                   CASE WHEN bool_or(t.quality <> 0) THEN array_agg(t.quality ORDER BY t.us) END
            FROM moved t GROUP BY t.point_id, t.enterprise_id
            RETURNING cardinality(vals) AS n)
        SELECT (SELECT count(*) FROM moved), (SELECT coalesce(sum(n), 0) FROM ins), (SELECT count(*) FROM ins)$q$,
        part) INTO moved, packed_readings, point_days USING packed_day, d0, max_rows;
    IF packed_readings <> moved THEN
        RAISE EXCEPTION 'packing % wrote % readings of %', packed_day, packed_readings, moved;
    END IF;
    IF moved = 0 THEN
        EXECUTE format('DROP TABLE %I', part);
        day_done := true;
    END IF;
END
$$;
COMMENT ON FUNCTION dw_readings_pack_next(date, integer) IS 'worker, own transaction: moves about max_rows readings (whole points) of the oldest readings partition before pack_before into readings_packed; the first step of a day moves readings_pack_state.packed_before past it, the step that finds the partition empty drops it (day_done); packed_day NULL: nothing to pack, waiting says why when a day waits';
REVOKE ALL ON FUNCTION dw_readings_pack_next(date, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_readings_pack_next(date, integer) TO dustwatch_app;

-- The rollup worker's raw reads of whole point-hours (late hours, and the fallback that
-- finds a point-hour that cannot be aggregated) go through dw_readings: a quarantined
-- hour released on a packed day is rolled up again from its packed readings.  Both
-- functions as in 0017 otherwise.
CREATE OR REPLACE FUNCTION dw_rollup_point_hour(p bigint, h timestamptz, lo timestamptz, hi timestamptz) RETURNS bigint
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    o constant timestamptz := timestamptz '2000-01-01 00:00:00+00';
    made bigint;
BEGIN
    WITH mins AS (
        INSERT INTO rollup_minute (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
        SELECT p, date_bin('1 minute', r.collected_at, o), min(r.enterprise_id), count(*),
               min(r.value), max(r.value), sum(r.value)
        FROM dw_readings(p, greatest(h, lo), least(h + interval '1 hour', hi)) r
        GROUP BY 1, 2
        RETURNING point_id, bucket, enterprise_id, n, vmin, vmax, vsum),
    hours AS (
        INSERT INTO rollup_hour AS x (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
        SELECT point_id, date_bin('1 hour', bucket, o), min(enterprise_id), sum(n), min(vmin), max(vmax), sum(vsum)
        FROM mins GROUP BY 1, 2
        ON CONFLICT (point_id, bucket) DO UPDATE SET n = x.n + EXCLUDED.n, vmin = least(x.vmin, EXCLUDED.vmin),
            vmax = greatest(x.vmax, EXCLUDED.vmax), vsum = x.vsum + EXCLUDED.vsum)
    SELECT count(*) INTO made FROM mins;
    RETURN made;
END
$$;

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
            PERFORM dw_ensure_rollup_partition('minute', m);
            PERFORM dw_ensure_rollup_partition('hour', m);
            m := (m + interval '1 month')::date;
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
    WITH d AS (
        DELETE FROM rollup_dirty WHERE ctid = ANY (ARRAY(SELECT ctid FROM rollup_dirty ORDER BY hour LIMIT max_dirty))
        RETURNING point_id, hour)
    SELECT array_agg(d.point_id), array_agg(d.hour) INTO pts, hrs FROM d
        WHERE NOT EXISTS (SELECT 1 FROM rollup_quarantine q WHERE q.point_id = d.point_id AND q.hour = d.hour);
    IF pts IS NOT NULL THEN
        dirty_done := cardinality(pts);
        FOR m IN SELECT DISTINCT date_trunc('month', h AT TIME ZONE 'UTC')::date FROM unnest(hrs) h LOOP
            PERFORM dw_ensure_rollup_partition('minute', m);
            PERFORM dw_ensure_rollup_partition('hour', m);
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
    SELECT count(*) INTO dirty_left FROM rollup_dirty;
END
$$;
