-- 0114: a per-enterprise, per-city-day rollup of point-hours with data for the statistics
-- (issue 15: "fast at 2,000 enterprises").
--
-- GET /statistics counted every rollup_hour row of the period (a month of 40,000 points is
-- millions of rows) on each request.  stats_day holds those counts per enterprise and city
-- day (UTC+8), so a month reads 31 x 2,000 rows; what is not in it (the hours from
-- stats_day_state.covered_to on, the edges of a custom range, days marked stale) is still
-- counted from rollup_hour and the raw readings as before (server/db/db_stats.c).
--
-- Maintained by the worker after each rollup step (dw_stats_day_advance): incrementally from
-- the watermark covered_to (whole hours below rollup_state.rolled_to), and by recomputing a
-- whole day (dw_stats_day_fill, idempotent) when rollup_hour rows of an already counted hour
-- are inserted or deleted (late readings, quarantine releases): the statement triggers below
-- queue that day in stats_day_stale, and the statistics read a queued day from rollup_hour
-- until it is recomputed, so the answer never depends on the worker being in step.
--
-- The counts include every point of the enterprise; the statistics subtract the currently
-- disabled points' rollup rows (few) when they read a day.

CREATE TABLE stats_day (
    day            date NOT NULL,
    enterprise_id  bigint NOT NULL,
    point_hours    integer NOT NULL CHECK (point_hours >= 0),
    PRIMARY KEY (day, enterprise_id)
);
COMMENT ON TABLE stats_day IS 'per enterprise and city day (UTC+8): rollup_hour rows (point-hours with data) of the day''s hours below stats_day_state.covered_to; days in stats_day_stale are not to be trusted until recomputed';
COMMENT ON COLUMN stats_day.day IS 'the city''s calendar day (Asia/Shanghai): hours from 16:00 UTC the day before';
COMMENT ON COLUMN stats_day.enterprise_id IS 'rollup_hour.enterprise_id (copied from the readings)';
COMMENT ON COLUMN stats_day.point_hours IS 'number of rollup_hour rows: hours with at least one reading, summed over all points (disabled ones included)';

ALTER TABLE stats_day ENABLE ROW LEVEL SECURITY;
ALTER TABLE stats_day FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON stats_day USING (
    current_setting('dw.scope', true) = 'system' OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR enterprise_id IN (SELECT e.id FROM enterprises e));

CREATE TABLE stats_day_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    covered_to  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (date_bin('1 hour', covered_to, timestamptz '2000-01-01 00:00:00+00') = covered_to)
);
COMMENT ON TABLE stats_day_state IS 'the watermark of stats_day: rollup_hour rows with bucket < covered_to are counted there (stale days aside); no row: nothing is';
COMMENT ON COLUMN stats_day_state.covered_to IS 'a whole hour, at most the hour of rollup_state.rolled_to';

CREATE TABLE stats_day_stale (
    day        date PRIMARY KEY,
    queued_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE stats_day_stale IS 'city days whose stats_day rows missed a change of rollup_hour below the watermark; the worker recomputes them, the statistics read them from rollup_hour meanwhile. Dates only, hence no row-level security';

-- Queue the days of counted hours whose rollup rows appeared or vanished.  Runs as the owner:
-- the writer (the worker, a quarantine release) need not see stats_day_state.
CREATE FUNCTION dw_stats_day_mark() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_day_stale (day)
            SELECT DISTINCT (t.bucket AT TIME ZONE 'Asia/Shanghai')::date FROM new_rows t, stats_day_state s
            WHERE t.bucket < s.covered_to
            ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO stats_day_stale (day)
            SELECT DISTINCT (t.bucket AT TIME ZONE 'Asia/Shanghai')::date FROM old_rows t, stats_day_state s
            WHERE t.bucket < s.covered_to
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER stats_day_mark_insert AFTER INSERT ON rollup_hour REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dw_stats_day_mark();
CREATE TRIGGER stats_day_mark_delete AFTER DELETE ON rollup_hour REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dw_stats_day_mark();

-- Recompute one city day from rollup_hour (hours below upto): idempotent.
CREATE FUNCTION dw_stats_day_fill(d date, upto timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM stats_day WHERE day = d;
    INSERT INTO stats_day (day, enterprise_id, point_hours)
        SELECT d, h.enterprise_id, count(*) FROM rollup_hour h
        WHERE h.bucket >= (d::timestamp AT TIME ZONE 'Asia/Shanghai')
          AND h.bucket < least(((d + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'), upto)
        GROUP BY h.enterprise_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM stats_day_stale WHERE day = d;
    RETURN n;
END
$$;
COMMENT ON FUNCTION dw_stats_day_fill(date, timestamptz) IS 'recomputes stats_day of city day d from rollup_hour (hours below upto) and drops it from stats_day_stale; idempotent';

-- The worker's step: recompute up to max_days stale days, then count the whole hours from
-- covered_to to the hour of rolled_to (at most max_days days of them).  Holds the rollup
-- lock, so no rollup fill changes rollup_hour meanwhile; skips (-1) when another node has it.
-- A first run starts at the first rollup row.
CREATE FUNCTION dw_stats_day_advance(max_days integer, OUT days_done integer, OUT covered timestamptz)
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    o constant timestamptz := timestamptz '2000-01-01 00:00:00+00';
    target timestamptz;
    cov timestamptz;
    nxt timestamptz;
    d date;
BEGIN
    days_done := 0;
    IF NOT pg_try_advisory_xact_lock(7310312016119213) THEN
        days_done := -1;
        RETURN;
    END IF;
    SELECT date_bin('1 hour', s.rolled_to, o) INTO target FROM rollup_state s;
    SELECT s.covered_to INTO cov FROM stats_day_state s FOR UPDATE;
    IF cov IS NULL THEN
        SELECT date_bin('1 hour', min(h.bucket), o) INTO cov FROM rollup_hour h;
        cov := least(coalesce(cov, target), target);
        IF cov IS NULL THEN
            RETURN;
        END IF;
        -- from the start of its city day, so the first day's row counts the whole day
        cov := ((cov AT TIME ZONE 'Asia/Shanghai')::date)::timestamp AT TIME ZONE 'Asia/Shanghai';
        INSERT INTO stats_day_state (covered_to) VALUES (cov);
        DELETE FROM stats_day;
        DELETE FROM stats_day_stale;
    END IF;
    FOR d IN SELECT st.day FROM stats_day_stale st ORDER BY st.day LIMIT max_days LOOP
        PERFORM dw_stats_day_fill(d, cov);
        days_done := days_done + 1;
    END LOOP;
    -- incrementally: the hours [cov, nxt) of one city day at a time
    WHILE cov < target AND days_done < max_days LOOP
        d := (cov AT TIME ZONE 'Asia/Shanghai')::date;
        nxt := least(((d + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'), target);
        INSERT INTO stats_day AS x (day, enterprise_id, point_hours)
            SELECT d, h.enterprise_id, count(*) FROM rollup_hour h
            WHERE h.bucket >= cov AND h.bucket < nxt GROUP BY h.enterprise_id
            ON CONFLICT (day, enterprise_id) DO UPDATE SET point_hours = x.point_hours + excluded.point_hours;
        cov := nxt;
        days_done := days_done + 1;
    END LOOP;
    UPDATE stats_day_state SET covered_to = cov, updated_at = now();
    covered := cov;
END
$$;
COMMENT ON FUNCTION dw_stats_day_advance(integer) IS 'worker: recomputes stale stats_day days and counts the rolled-up hours past covered_to into stats_day, at most max_days days per call; -1 when another node holds the rollup lock';

REVOKE ALL ON FUNCTION dw_stats_day_mark(), dw_stats_day_fill(date, timestamptz), dw_stats_day_advance(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_stats_day_fill(date, timestamptz), dw_stats_day_advance(integer) TO dustwatch_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON stats_day, stats_day_stale TO dustwatch_app;
GRANT SELECT, INSERT, UPDATE ON stats_day_state TO dustwatch_app;
