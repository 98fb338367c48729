-- 0115: the day rollup (0114) reads rollup_hour by time alone: when it counts the hours past its
-- watermark, recomputes a stale day, and when the statistics read the edges of a period and
-- the hours past the watermark.  rollup_hour's key is (point_id, bucket), so each of those was
-- a scan of the whole monthly partition (30 million rows at 40,000 points).  Rows are written
-- in time order (late hours are few), so a BRIN index on bucket stays a few pages, as
-- readings_collected_brin does for the readings (0012).
--
-- Also: a worker tick with nothing to count no longer rewrites stats_day_state.

CREATE INDEX rollup_hour_bucket_brin ON rollup_hour USING brin (bucket) WITH (pages_per_range = 32, autosummarize = on);

CREATE OR REPLACE FUNCTION dw_stats_day_advance(max_days integer, OUT days_done integer, OUT covered timestamptz)
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
    -- a tick with nothing to count writes nothing
    IF days_done > 0 THEN
        UPDATE stats_day_state SET covered_to = cov, updated_at = now();
    END IF;
    covered := cov;
END
$$;
