-- 0139: minute rollups in daily partitions, kept only as long as the series reads them
-- (issue 20, storage: no day older than a week carries minute rows).
--
-- rollup_minute had monthly partitions (0012), dropped only once the whole month was older
-- than rollup_minute_retention_days: minute rows lived 14 to ~45 days, 41 B per reading at a
-- 10-second cadence and 212 B at 60 s on days whose readings are packed (~8-11 B).  The
-- series reads the minute tier only for sub-hour buckets of ranges starting within
-- rollup_minute_retention_days (db_points.c), so the rows of older days are never read.
--
-- * New minute partitions are daily: rollup_minute_YYYYMMDD.  A monthly partition made
--   before this migration (rollup_minute_YYYYMM) keeps holding its month: the days it
--   covers get no daily partition, and it is dropped whole once the month is older than
--   the cutoff (the first month after an upgrade keeps its minutes as before).
--   rollup_hour keeps monthly partitions.
-- * Retention (dw_drop_rollup_partitions_before('minute', cutoff)) drops the daily
--   partitions that end on or before the cutoff and moves rollup_state.minute_from to it,
--   in one transaction.  minute_from is where minute rows are complete from: the series
--   reads the minute tier only for ranges starting at or after it (else raw readings, the
--   same numbers), so what it reads always exists, whatever the setting was when the
--   partitions went (a raised rollup_minute_retention_days cannot make it read dropped
--   days) and whatever the clocks of the API and worker nodes say.
-- * The worker's fill makes the daily partitions it writes into (the days of [rolled_to,
--   marked_to) and of queued late hours); the rest of dw_rollup_fill is 0137's.

ALTER TABLE rollup_state ADD COLUMN minute_from timestamptz NOT NULL DEFAULT '-infinity';
COMMENT ON COLUMN rollup_state.minute_from IS 'rollup_minute is complete (as for rolled_to) only for buckets at or after this: retention dropped the partitions before it; the series reads raw readings for ranges starting earlier';
-- an existing database: its minute rows start at its oldest partition (older months were
-- dropped); none: nothing was dropped
UPDATE rollup_state SET minute_from = coalesce((
    SELECT min(to_date(right(c.relname, 6), 'YYYYMM'))::timestamp AT TIME ZONE 'UTC'
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'rollup_minute'::regclass AND c.relname ~ '^rollup_minute_[0-9]{6}$'), '-infinity');
COMMENT ON TABLE rollup_minute IS 'readings aggregated per point and UTC minute; one partition per UTC day (before migration 0139: per UTC month); complete from rollup_state.minute_from to rollup_state.rolled_to except rollup_dirty hours';

-- The partition of a tier holding that day: for hours the month's, for minutes the day's
-- (or the month's made before 0139, if it exists).  The parameter keeps its 0012 name.
CREATE OR REPLACE FUNCTION dw_ensure_rollup_partition(tier text, month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    m date := date_trunc('month', month)::date;
    d date := month;
    part text;
    lo date;
    hi date;
BEGIN
    IF tier = 'hour' THEN
        part := 'rollup_hour_' || to_char(m, 'YYYYMM');
        lo := m;
        hi := (m + interval '1 month')::date;
    ELSIF tier = 'minute' THEN
        IF to_regclass('rollup_minute_' || to_char(m, 'YYYYMM')) IS NOT NULL THEN
            RETURN false;
        END IF;
        part := 'rollup_minute_' || to_char(d, 'YYYYMMDD');
        lo := d;
        hi := d + 1;
    ELSE
        RAISE EXCEPTION 'no rollup tier %', tier USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(part));
    BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, 'rollup_' || tier,
                       (lo::timestamp AT TIME ZONE 'UTC'), (hi::timestamp AT TIME ZONE 'UTC'));
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        RETURN false;
    END;
    RETURN true;
END
$$;
COMMENT ON FUNCTION dw_ensure_rollup_partition(text, date) IS 'creates the partition of rollup_minute (daily; a monthly one made before 0139 is used while it exists) or rollup_hour (monthly) holding that day, if missing';

-- Retention.  For minutes the watermark moves first (the row lock orders this after a
-- running fill, which holds it), then the partitions go: a reader that planned with the
-- old watermark holds its partitions until it ends, and the drop waits for it.
CREATE OR REPLACE FUNCTION dw_drop_rollup_partitions_before(tier text, cutoff date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    IF tier NOT IN ('minute', 'hour') THEN
        RAISE EXCEPTION 'no rollup tier %', tier USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF tier = 'minute' THEN
        UPDATE rollup_state SET minute_from = greatest(minute_from, cutoff::timestamp AT TIME ZONE 'UTC');
    END IF;
    -- a partition goes only once all of it is older than the cutoff: months (both tiers)
    -- and days (minutes since 0139)
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = ('rollup_' || tier)::regclass
               AND ((c.relname ~ ('^rollup_' || tier || '_[0-9]{6}$')
                     AND (to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month')::date <= cutoff)
                 OR (tier = 'minute' AND c.relname ~ '^rollup_minute_[0-9]{8}$'
                     AND to_date(right(c.relname, 8), 'YYYYMMDD') + 1 <= cutoff))
             ORDER BY c.relname LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION dw_drop_rollup_partitions_before(text, date) IS 'retention: drops the rollup partitions (monthly; daily minute ones since 0139) that end on or before cutoff; for minutes also moves rollup_state.minute_from to the cutoff';

-- The fill of 0137, making daily minute partitions (the worker's rollup_ensure statement
-- normally made them already, outside this transaction).
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
    WITH d AS (
        DELETE FROM rollup_dirty WHERE ctid = ANY (ARRAY(SELECT ctid FROM rollup_dirty ORDER BY hour LIMIT max_dirty))
        RETURNING point_id, hour)
    SELECT array_agg(d.point_id), array_agg(d.hour) INTO pts, hrs FROM d
        WHERE NOT EXISTS (SELECT 1 FROM rollup_quarantine q WHERE q.point_id = d.point_id AND q.hour = d.hour);
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
    SELECT count(*) INTO dirty_left FROM rollup_dirty;
END
$$;
