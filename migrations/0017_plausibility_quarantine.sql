-- 0017: a single absurd value can no longer stop the rollups of the city.
--
-- Before this, a point without range_min/range_max accepted any finite
-- double; two readings of 1e308 in one hour made sum() overflow, the rollup
-- step failed every tick ('value out of range: overflow') and rolled_to
-- stopped for every point.
--
-- 1. Every indicator kind gets a physical plausibility range.  The ingest
--    writer refuses a value outside it ('implausible', per item) when the
--    point sets no range of its own (a point's range_min/range_max, when set,
--    is the sensor's and wins), and refuses any |value| > 1e12 whatever the
--    point says, so sums of stored readings cannot overflow.
-- 2. A point-hour that still fails to aggregate (values stored before this
--    migration, or written around the ingest path) is quarantined: its
--    rollups are removed, it is listed in rollup_quarantine with the error,
--    and the fill goes on for every other point.  The series API reads raw
--    readings for quarantined hours (as for rollup_dirty ones) and aggregates
--    them in numeric, so it answers instead of failing.

ALTER TABLE indicator_kinds ADD COLUMN plausible_min double precision,
                            ADD COLUMN plausible_max double precision;
UPDATE indicator_kinds k SET plausible_min = v.lo, plausible_max = v.hi
FROM (VALUES
    -- ℃: thermocouples in a smouldering hopper read hundreds of degrees; beyond 1300 no sensor used here reads
    ('hopper_temp',    -60::float8,  1300::float8),
    -- Pa, both signs (sensor zero offset, reversed taps)
    ('pressure_diff',  -20000,       20000),
    ('airlock_fault',  0,            1),
    ('spark_detected', 0,            1),
    ('fan_running',    0,            1),
    ('power_on',       0,            1),
    -- mm: a wet collector tank is a few metres deep; a little below zero is zero drift
    ('water_level',    -1000,        20000),
    -- m³/h
    ('water_flow',     -100,         10000),
    -- %LEL of hydrogen: 0..100, detectors over-range a little
    ('hydrogen_lel',   -5,           120),
    ('oxygen',         -1,           100),
    ('bearing_temp',   -60,          400),
    -- mg/m³: explosive dust clouds reach a few kg/m³ in a duct
    ('dust_conc',      -10,          10000000),
    -- Pa: fans pull at most a few tens of kPa
    ('inlet_pressure', -50000,       50000)
) AS v(code, lo, hi)
WHERE k.code = v.code;
-- kinds added by an operator since: the widest range the ingest allows at all
UPDATE indicator_kinds SET plausible_min = -1e12, plausible_max = 1e12 WHERE plausible_min IS NULL;
ALTER TABLE indicator_kinds ALTER COLUMN plausible_min SET NOT NULL,
                            ALTER COLUMN plausible_max SET NOT NULL,
                            ADD CONSTRAINT indicator_kinds_plausible_check
                                CHECK (plausible_min < plausible_max AND plausible_min >= -1e12 AND plausible_max <= 1e12);
COMMENT ON COLUMN indicator_kinds.plausible_min IS 'smallest value a sensor of this kind can physically report; the ingest refuses less (implausible) when the point sets no range_min';
COMMENT ON COLUMN indicator_kinds.plausible_max IS 'largest value a sensor of this kind can physically report; the ingest refuses more (implausible) when the point sets no range_max';

CREATE TABLE rollup_quarantine (
    point_id        bigint NOT NULL,
    hour            timestamptz NOT NULL,
    reason          text NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (point_id, hour),
    CHECK (date_bin('1 hour', hour, timestamptz '2000-01-01 00:00:00+00') = hour)
);
COMMENT ON TABLE rollup_quarantine IS 'point-hours whose readings could not be aggregated: no rollup rows, the series API reads raw; delete the row (and queue the hour in rollup_dirty) once the readings are repaired. Ids, times and a PostgreSQL error text only, hence no row-level security';
COMMENT ON COLUMN rollup_quarantine.hour IS 'start of the UTC hour';
COMMENT ON COLUMN rollup_quarantine.reason IS 'the error aggregating the hour gave, or why the hour was set aside before trying';
COMMENT ON COLUMN rollup_quarantine.quarantined_at IS 'when the worker set the hour aside';

-- Sets one point-hour aside: its rollups go (the series reads raw for it), and
-- neither the fill nor a late reading's recompute touches it again.
CREATE FUNCTION dw_rollup_quarantine(p bigint, h timestamptz, why text) RETURNS integer
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    added integer;
BEGIN
    INSERT INTO rollup_quarantine (point_id, hour, reason) VALUES (p, h, left(why, 500))
        ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    DELETE FROM rollup_minute WHERE point_id = p AND bucket >= h AND bucket < h + interval '1 hour';
    DELETE FROM rollup_hour WHERE point_id = p AND bucket = h;
    DELETE FROM rollup_dirty WHERE point_id = p AND hour = h;
    RETURN added;
END
$$;
COMMENT ON FUNCTION dw_rollup_quarantine(bigint, timestamptz, text) IS 'rollup worker: removes the rollups of a point-hour that cannot be aggregated and lists it in rollup_quarantine';

-- Rolls readings of [r0, r1) up, every point, quarantined hours left out.
-- Nothing before r0 is in the minute table for these minutes (the 0012
-- invariant), so a plain insert; hours add the new minutes to what they hold.
CREATE FUNCTION dw_rollup_range(r0 timestamptz, r1 timestamptz) RETURNS bigint
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    o constant timestamptz := timestamptz '2000-01-01 00:00:00+00';
    made bigint;
BEGIN
    WITH mins AS (
        INSERT INTO rollup_minute (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
        SELECT r.point_id, date_bin('1 minute', r.collected_at, o), min(r.enterprise_id), count(*),
               min(r.value), max(r.value), sum(r.value)
        FROM readings r WHERE r.collected_at >= r0 AND r.collected_at < r1
          AND NOT EXISTS (SELECT 1 FROM rollup_quarantine q
                          WHERE q.point_id = r.point_id AND q.hour = date_bin('1 hour', r.collected_at, o))
        GROUP BY 1, 2
        RETURNING point_id, bucket, enterprise_id, n, vmin, vmax, vsum),
    hours AS (
        INSERT INTO rollup_hour AS h (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
        SELECT point_id, date_bin('1 hour', bucket, o), min(enterprise_id), sum(n), min(vmin), max(vmax), sum(vsum)
        FROM mins GROUP BY 1, 2
        ON CONFLICT (point_id, bucket) DO UPDATE SET n = h.n + EXCLUDED.n, vmin = least(h.vmin, EXCLUDED.vmin),
            vmax = greatest(h.vmax, EXCLUDED.vmax), vsum = h.vsum + EXCLUDED.vsum)
    SELECT count(*) INTO made FROM mins;
    RETURN made;
END
$$;
COMMENT ON FUNCTION dw_rollup_range(timestamptz, timestamptz) IS 'rollup worker: aggregates the readings of [r0, r1) into rollup_minute and rollup_hour, quarantined point-hours left out';

-- The same for one point-hour, within [lo, hi): the fallback that finds which
-- point-hour of a failed step cannot be aggregated.
CREATE FUNCTION dw_rollup_point_hour(p bigint, h timestamptz, lo timestamptz, hi timestamptz) RETURNS bigint
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    o constant timestamptz := timestamptz '2000-01-01 00:00:00+00';
    made bigint;
BEGIN
    WITH mins AS (
        INSERT INTO rollup_minute (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
        SELECT r.point_id, date_bin('1 minute', r.collected_at, o), min(r.enterprise_id), count(*),
               min(r.value), max(r.value), sum(r.value)
        FROM readings r WHERE r.point_id = p AND r.collected_at >= greatest(h, lo)
          AND r.collected_at < least(h + interval '1 hour', hi)
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
COMMENT ON FUNCTION dw_rollup_point_hour(bigint, timestamptz, timestamptz, timestamptz) IS 'rollup worker: aggregates one point-hour''s readings within [lo, hi)';

-- The fill of 0012, with every failure confined to the point-hours that cause
-- it.  The fast path is unchanged (one statement for the whole step); only
-- when it fails (data exception or broken constraint: overflow, ...) the step
-- is retried without the point-hours holding values no sensor reports
-- (|value| > 1e12 or not finite), and if that fails too, one point-hour at a
-- time, quarantining each that fails.  rolled_to moves on in every case.
DROP FUNCTION dw_rollup_fill(integer);
CREATE FUNCTION dw_rollup_fill(max_dirty integer, OUT rolled_from timestamptz, OUT rolled_to timestamptz,
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
                SELECT r.point_id, date_bin('1 minute', r.collected_at, o), min(r.enterprise_id), count(*),
                       min(r.value), max(r.value), sum(r.value)
                FROM unnest(pts, hrs) d(p, h)
                JOIN readings r ON r.point_id = d.p AND r.collected_at >= d.h
                               AND r.collected_at < least(d.h + interval '1 hour', rolled_to)
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
COMMENT ON FUNCTION dw_rollup_fill(integer) IS 'worker: rolls readings up to marked_to and recomputes up to max_dirty late point-hours; a point-hour that cannot be aggregated is quarantined, never blocks the others; skips when another node holds the rollup lock';

REVOKE ALL ON FUNCTION dw_rollup_quarantine(bigint, timestamptz, text), dw_rollup_range(timestamptz, timestamptz),
    dw_rollup_point_hour(bigint, timestamptz, timestamptz, timestamptz), dw_rollup_fill(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_rollup_quarantine(bigint, timestamptz, text), dw_rollup_range(timestamptz, timestamptz),
    dw_rollup_point_hour(bigint, timestamptz, timestamptz, timestamptz), dw_rollup_fill(integer) TO dustwatch_app;
GRANT SELECT, INSERT, DELETE ON rollup_quarantine TO dustwatch_app;
