-- 0155: running totals of the alarms per enterprise and city day, for the statistics' alarm
-- figures (issue 15: "p99 <= 100 ms per statistic at 2,000 enterprises").
--
-- A statistic counted every alarm of its period through ~20 aggregates each: a custom 30 days
-- at 2,000 enterprises is 60,000 alarms, ~37 ms of the 73 of its slower half (EXPLAIN ANALYZE,
-- tests/bench/README.md), and no snapshot holds an arbitrary range.  Per enterprise and day a
-- day's counts would be as many rows as alarms (one per enterprise and day there); running
-- totals make any run of whole days two rows per enterprise: the totals at its last day less
-- those at the day before its first.
--
-- What is kept is what does not move with the clock: alarms raised, by kind and by level, not
-- folded into another, and handled by their handle deadline (not folded), of the alarms raised
-- up to the end of each day.  Overdue and "not due yet" move with the clock and are counted
-- live over the unfinished alarms (alarms_unfinished_idx, alarms_pending_idx below); the edges
-- of a range that are not whole days are counted live too (server/db/db_stats.c, ALC_DAYS).
--
-- Maintained by the worker (dw_stats_alarm_day_advance) for whole days before today, one row
-- per enterprise and day.  An alarm inserted, deleted or changed in a counted figure (its
-- enterprise, raise time, kind, level, folding, handling, handle deadline) whose day may be
-- counted queues that day in stats_alarm_day_stale: the statistics read a queued day live (its
-- stored counts taken out of the totals), and the worker recounts the totals from the first
-- queued day on.  A shared advisory lock taken by the marking trigger and the worker's exclusive
-- one order the two: a day is either counted with the change or queued by it.

CREATE TABLE stats_alarm_day (
    day                       date NOT NULL,
    enterprise_id             bigint NOT NULL,
    n                         integer NOT NULL,
    k_digital_fault           integer NOT NULL,
    k_enterprise_offline      integer NOT NULL,
    k_frozen                  integer NOT NULL,
    k_gateway_fault           integer NOT NULL,
    k_gateway_offline         integer NOT NULL,
    k_high                    integer NOT NULL,
    k_high_high               integer NOT NULL,
    k_low                     integer NOT NULL,
    k_low_low                 integer NOT NULL,
    k_offline                 integer NOT NULL,
    k_out_of_range            integer NOT NULL,
    k_production_during_stop  integer NOT NULL,
    k_rate_of_rise            integer NOT NULL,
    k_spark                   integer NOT NULL,
    k_video                   integer NOT NULL,
    l0                        integer NOT NULL,
    l1                        integer NOT NULL,
    l2                        integer NOT NULL,
    unfolded                  integer NOT NULL,
    on_time                   integer NOT NULL,
    PRIMARY KEY (day, enterprise_id)
);
COMMENT ON TABLE stats_alarm_day IS 'per enterprise and city day (UTC+8), running totals of its alarms raised up to the end of that day, for every enterprise and every day below stats_alarm_day_state.covered_to; days in stats_alarm_day_stale are not to be trusted (their own counts, total less the day before''s) until recounted';
COMMENT ON COLUMN stats_alarm_day.n IS 'alarms raised (k_<kind>: of that kind; l<level>: of that level)';
COMMENT ON COLUMN stats_alarm_day.unfolded IS 'of those, not folded into another alarm (folded_into IS NULL)';
COMMENT ON COLUMN stats_alarm_day.on_time IS 'of those, not folded and handled by their handle deadline';

ALTER TABLE stats_alarm_day ENABLE ROW LEVEL SECURITY;
ALTER TABLE stats_alarm_day FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON stats_alarm_day USING (
    (SELECT current_setting('dw.scope', true) = 'system') OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK ((SELECT current_setting('dw.scope', true) = 'system'));

CREATE TABLE stats_alarm_day_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    covered_to  date NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE stats_alarm_day_state IS 'the watermark of stats_alarm_day: the city days before covered_to are counted there (stale days aside); no row: none is';

CREATE TABLE stats_alarm_day_stale (
    day        date PRIMARY KEY,
    queued_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE stats_alarm_day_stale IS 'counted city days whose alarms changed since; the statistics read them live, the worker recounts the totals from the first of them. Dates only, hence no row-level security';

-- Alarms not due yet (not folded, not handled, handle deadline ahead): few, counted live.
CREATE INDEX alarms_pending_idx ON alarms (handle_deadline) WHERE handled_at IS NULL AND folded_into IS NULL;

-- Queue the days of an alarm inserted, deleted or changed in a counted figure that may be
-- counted: before today by the clock (the worker counts only the days before its today).  Not
-- by the watermark: a writer's repeatable-read snapshot may predate the last count.  The shared
-- lock, held to the writer's commit, keeps the worker from counting while a change is in flight
-- (it tries again at its next step), so a change either is in its count or queues its day.
-- Runs as the owner: the writer need not see the queue.
CREATE FUNCTION dw_stats_alarm_day_mark() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    today constant date := (clock_timestamp() AT TIME ZONE 'Asia/Shanghai')::date;
    d_old date;
    d_new date;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7310312016119215);
    IF TG_OP <> 'INSERT' THEN
        d_old := (OLD.raised_at AT TIME ZONE 'Asia/Shanghai')::date;
        IF d_old < today THEN
            INSERT INTO stats_alarm_day_stale (day) VALUES (d_old) ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        d_new := (NEW.raised_at AT TIME ZONE 'Asia/Shanghai')::date;
        IF d_new < today AND d_new IS DISTINCT FROM d_old THEN
            INSERT INTO stats_alarm_day_stale (day) VALUES (d_new) ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER stats_alarm_day_mark AFTER INSERT OR DELETE ON alarms
    FOR EACH ROW EXECUTE FUNCTION dw_stats_alarm_day_mark();
CREATE TRIGGER stats_alarm_day_mark_update
    AFTER UPDATE OF enterprise_id, raised_at, kind, level, folded_into, handled_at, handle_deadline ON alarms
    FOR EACH ROW WHEN ((OLD.enterprise_id, OLD.raised_at, OLD.kind, OLD.level, OLD.folded_into, OLD.handled_at,
                        OLD.handle_deadline)
                       IS DISTINCT FROM (NEW.enterprise_id, NEW.raised_at, NEW.kind, NEW.level, NEW.folded_into,
                                         NEW.handled_at, NEW.handle_deadline))
    EXECUTE FUNCTION dw_stats_alarm_day_mark();

-- The worker's step: recount the totals from the first queued day on, then count the days
-- from covered_to up to yesterday (at most max_days days past covered_to per call).  Skips (-1)
-- while an alarm write or another node holds the lock: the next step tries again.  A first run
-- starts at the day of the first alarm.
CREATE FUNCTION dw_stats_alarm_day_advance(max_days integer, OUT days_done integer, OUT covered date)
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    today constant date := (now() AT TIME ZONE 'Asia/Shanghai')::date;
    cov date;
    from_d date;
    target date;
BEGIN
    days_done := 0;
    IF NOT pg_try_advisory_xact_lock(7310312016119215) THEN
        days_done := -1;
        RETURN;
    END IF;
    SELECT s.covered_to INTO cov FROM stats_alarm_day_state s FOR UPDATE;
    IF cov IS NULL THEN
        SELECT (min(a.raised_at) AT TIME ZONE 'Asia/Shanghai')::date INTO cov FROM alarms a;
        cov := least(coalesce(cov, today), today);
        INSERT INTO stats_alarm_day_state (covered_to) VALUES (cov);
        DELETE FROM stats_alarm_day;
        DELETE FROM stats_alarm_day_stale;
    END IF;
    SELECT least(min(st.day), cov) INTO from_d FROM stats_alarm_day_stale st WHERE st.day < cov;
    from_d := coalesce(from_d, cov);
    -- the queued days past the watermark are counted below anyway
    DELETE FROM stats_alarm_day_stale;
    DELETE FROM stats_alarm_day WHERE day >= from_d;
    target := least(today, greatest(cov, from_d + max_days));
    IF target > from_d THEN
        -- every enterprise every day: a range's totals are looked up by day, not searched for
        INSERT INTO stats_alarm_day
            SELECT d.day, e.id,
                coalesce(b.n, 0) + sum(coalesce(c.n, 0)) OVER w,
                coalesce(b.k_digital_fault, 0) + sum(coalesce(c.k_digital_fault, 0)) OVER w,
                coalesce(b.k_enterprise_offline, 0) + sum(coalesce(c.k_enterprise_offline, 0)) OVER w,
                coalesce(b.k_frozen, 0) + sum(coalesce(c.k_frozen, 0)) OVER w,
                coalesce(b.k_gateway_fault, 0) + sum(coalesce(c.k_gateway_fault, 0)) OVER w,
                coalesce(b.k_gateway_offline, 0) + sum(coalesce(c.k_gateway_offline, 0)) OVER w,
                coalesce(b.k_high, 0) + sum(coalesce(c.k_high, 0)) OVER w,
                coalesce(b.k_high_high, 0) + sum(coalesce(c.k_high_high, 0)) OVER w,
                coalesce(b.k_low, 0) + sum(coalesce(c.k_low, 0)) OVER w,
                coalesce(b.k_low_low, 0) + sum(coalesce(c.k_low_low, 0)) OVER w,
                coalesce(b.k_offline, 0) + sum(coalesce(c.k_offline, 0)) OVER w,
                coalesce(b.k_out_of_range, 0) + sum(coalesce(c.k_out_of_range, 0)) OVER w,
                coalesce(b.k_production_during_stop, 0) + sum(coalesce(c.k_production_during_stop, 0)) OVER w,
                coalesce(b.k_rate_of_rise, 0) + sum(coalesce(c.k_rate_of_rise, 0)) OVER w,
                coalesce(b.k_spark, 0) + sum(coalesce(c.k_spark, 0)) OVER w,
                coalesce(b.k_video, 0) + sum(coalesce(c.k_video, 0)) OVER w,
                coalesce(b.l0, 0) + sum(coalesce(c.l0, 0)) OVER w,
                coalesce(b.l1, 0) + sum(coalesce(c.l1, 0)) OVER w,
                coalesce(b.l2, 0) + sum(coalesce(c.l2, 0)) OVER w,
                coalesce(b.unfolded, 0) + sum(coalesce(c.unfolded, 0)) OVER w,
                coalesce(b.on_time, 0) + sum(coalesce(c.on_time, 0)) OVER w
            FROM enterprises e
            CROSS JOIN (SELECT g::date AS day FROM generate_series(from_d, target - 1, interval '1 day') g) d
            LEFT JOIN stats_alarm_day b ON b.day = from_d - 1 AND b.enterprise_id = e.id
            LEFT JOIN (
                SELECT a.enterprise_id, (a.raised_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
                    count(*) AS n,
                    count(*) FILTER (WHERE a.kind = 'digital_fault') AS k_digital_fault,
                    count(*) FILTER (WHERE a.kind = 'enterprise_offline') AS k_enterprise_offline,
                    count(*) FILTER (WHERE a.kind = 'frozen') AS k_frozen,
                    count(*) FILTER (WHERE a.kind = 'gateway_fault') AS k_gateway_fault,
                    count(*) FILTER (WHERE a.kind = 'gateway_offline') AS k_gateway_offline,
                    count(*) FILTER (WHERE a.kind = 'high') AS k_high,
                    count(*) FILTER (WHERE a.kind = 'high_high') AS k_high_high,
                    count(*) FILTER (WHERE a.kind = 'low') AS k_low,
                    count(*) FILTER (WHERE a.kind = 'low_low') AS k_low_low,
                    count(*) FILTER (WHERE a.kind = 'offline') AS k_offline,
                    count(*) FILTER (WHERE a.kind = 'out_of_range') AS k_out_of_range,
                    count(*) FILTER (WHERE a.kind = 'production_during_stop') AS k_production_during_stop,
                    count(*) FILTER (WHERE a.kind = 'rate_of_rise') AS k_rate_of_rise,
                    count(*) FILTER (WHERE a.kind = 'spark') AS k_spark,
                    count(*) FILTER (WHERE a.kind = 'video') AS k_video,
                    count(*) FILTER (WHERE a.level = 0) AS l0,
                    count(*) FILTER (WHERE a.level = 1) AS l1,
                    count(*) FILTER (WHERE a.level = 2) AS l2,
                    count(*) FILTER (WHERE a.folded_into IS NULL) AS unfolded,
                    count(*) FILTER (WHERE a.handled_at <= a.handle_deadline AND a.folded_into IS NULL) AS on_time
                FROM alarms a
                WHERE a.raised_at >= (from_d::timestamp AT TIME ZONE 'Asia/Shanghai')
                  AND a.raised_at < (target::timestamp AT TIME ZONE 'Asia/Shanghai')
                GROUP BY 1, 2) c ON c.enterprise_id = e.id AND c.day = d.day
            WINDOW w AS (PARTITION BY e.id ORDER BY d.day);
        days_done := target - from_d;
    END IF;
    cov := greatest(cov, target);
    UPDATE stats_alarm_day_state SET covered_to = cov, updated_at = now();
    covered := cov;
END
$$;
COMMENT ON FUNCTION dw_stats_alarm_day_advance(integer) IS 'worker: recounts stats_alarm_day from its first stale day and counts the whole days from covered_to up to yesterday, at most max_days days past covered_to per call; -1 while the lock is held elsewhere';

REVOKE ALL ON FUNCTION dw_stats_alarm_day_mark(), dw_stats_alarm_day_advance(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_stats_alarm_day_advance(integer) TO dustwatch_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON stats_alarm_day, stats_alarm_day_stale TO dustwatch_app;
GRANT SELECT, INSERT, UPDATE ON stats_alarm_day_state TO dustwatch_app;
