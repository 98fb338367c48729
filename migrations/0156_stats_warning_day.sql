-- 0156: running totals of the warnings per enterprise and city day, beside the alarms' (0155),
-- for the statistics' warning figures (issue 15: "p99 <= 100 ms per statistic at 2,000
-- enterprises").
--
-- A custom 30 days at 2,000 enterprises counts 20,000 warnings through 11 aggregates: 16 ms of
-- the 48 ms its slower half executes (EXPLAIN ANALYZE, tests/bench/README.md).  As for the
-- alarms, the whole days of a period become the totals at its last day less those at the day
-- before its first.  Kept is what does not move with the clock: warnings issued, by grade,
-- signed, signed by sign-by, cleared, cleared by clear-by.  What moves with it (not signed and
-- past sign-by, not cleared and past clear-by, overdue) is counted live over the warnings not
-- cleared, which warnings_open_idx keeps few (one per enterprise and cause).
--
-- The alarms' watermark, queue of stale days, lock and worker step now serve both tables, and
-- are renamed for it: a changed warning queues its city day exactly as a changed alarm does, and
-- a queued day is read live for both.

ALTER TABLE stats_alarm_day_state RENAME TO stats_event_day_state;
ALTER TABLE stats_alarm_day_stale RENAME TO stats_event_day_stale;
COMMENT ON TABLE stats_event_day_state IS 'the watermark of stats_alarm_day and stats_warning_day: the city days before covered_to are counted there (stale days aside); no row: none is';
COMMENT ON TABLE stats_event_day_stale IS 'counted city days whose alarms or warnings changed since; the statistics read them live, the worker recounts the totals from the first of them. Dates only, hence no row-level security';
COMMENT ON TABLE stats_alarm_day IS 'per enterprise and city day (UTC+8), running totals of its alarms raised up to the end of that day, for every enterprise and every day below stats_event_day_state.covered_to; days in stats_event_day_stale are not to be trusted (their own counts, total less the day before''s) until recounted';

CREATE TABLE stats_warning_day (
    day              date NOT NULL,
    enterprise_id    bigint NOT NULL,
    n                integer NOT NULL,
    blue             integer NOT NULL,
    yellow           integer NOT NULL,
    orange           integer NOT NULL,
    red              integer NOT NULL,
    signed           integer NOT NULL,
    signed_on_time   integer NOT NULL,
    cleared          integer NOT NULL,
    cleared_on_time  integer NOT NULL,
    PRIMARY KEY (day, enterprise_id)
);
COMMENT ON TABLE stats_warning_day IS 'per enterprise and city day (UTC+8), running totals of its warnings issued up to the end of that day, for every enterprise and every day below stats_event_day_state.covered_to; days in stats_event_day_stale are not to be trusted until recounted';
COMMENT ON COLUMN stats_warning_day.n IS 'warnings issued (blue .. red: of that grade)';
COMMENT ON COLUMN stats_warning_day.signed_on_time IS 'of those, signed by their sign-by (signed: signed at all)';
COMMENT ON COLUMN stats_warning_day.cleared_on_time IS 'of those, cleared by their clear-by (cleared: cleared at all)';

ALTER TABLE stats_warning_day ENABLE ROW LEVEL SECURITY;
ALTER TABLE stats_warning_day FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON stats_warning_day USING (
    (SELECT current_setting('dw.scope', true) = 'system') OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK ((SELECT current_setting('dw.scope', true) = 'system'));

-- As 0155's dw_stats_alarm_day_mark, for either table: the day is the alarm's raise or the
-- warning's issue.
CREATE FUNCTION dw_stats_event_day_mark() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    today constant date := (clock_timestamp() AT TIME ZONE 'Asia/Shanghai')::date;
    t_old timestamptz;
    t_new timestamptz;
    d_old date;
    d_new date;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7310312016119215);
    IF TG_OP <> 'INSERT' THEN
        IF TG_TABLE_NAME = 'alarms' THEN
            t_old := OLD.raised_at;
        ELSE
            t_old := OLD.issued_at;
        END IF;
        d_old := (t_old AT TIME ZONE 'Asia/Shanghai')::date;
        IF d_old < today THEN
            INSERT INTO stats_event_day_stale (day) VALUES (d_old) ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF TG_TABLE_NAME = 'alarms' THEN
            t_new := NEW.raised_at;
        ELSE
            t_new := NEW.issued_at;
        END IF;
        d_new := (t_new AT TIME ZONE 'Asia/Shanghai')::date;
        IF d_new < today AND d_new IS DISTINCT FROM d_old THEN
            INSERT INTO stats_event_day_stale (day) VALUES (d_new) ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER stats_alarm_day_mark ON alarms;
DROP TRIGGER stats_alarm_day_mark_update ON alarms;
DROP FUNCTION dw_stats_alarm_day_mark();
CREATE TRIGGER stats_event_day_mark AFTER INSERT OR DELETE ON alarms
    FOR EACH ROW EXECUTE FUNCTION dw_stats_event_day_mark();
CREATE TRIGGER stats_event_day_mark_update
    AFTER UPDATE OF enterprise_id, raised_at, kind, level, folded_into, handled_at, handle_deadline ON alarms
    FOR EACH ROW WHEN ((OLD.enterprise_id, OLD.raised_at, OLD.kind, OLD.level, OLD.folded_into, OLD.handled_at,
                        OLD.handle_deadline)
                       IS DISTINCT FROM (NEW.enterprise_id, NEW.raised_at, NEW.kind, NEW.level, NEW.folded_into,
                                         NEW.handled_at, NEW.handle_deadline))
    EXECUTE FUNCTION dw_stats_event_day_mark();
-- escalation (current_level, next_check_at), feedback and the clearance request count nothing
CREATE TRIGGER stats_event_day_mark AFTER INSERT OR DELETE ON warnings
    FOR EACH ROW EXECUTE FUNCTION dw_stats_event_day_mark();
CREATE TRIGGER stats_event_day_mark_update
    AFTER UPDATE OF enterprise_id, issued_at, grade, sign_by, signed_at, clear_by, cleared_at ON warnings
    FOR EACH ROW WHEN ((OLD.enterprise_id, OLD.issued_at, OLD.grade, OLD.sign_by, OLD.signed_at, OLD.clear_by,
                        OLD.cleared_at)
                       IS DISTINCT FROM (NEW.enterprise_id, NEW.issued_at, NEW.grade, NEW.sign_by, NEW.signed_at,
                                         NEW.clear_by, NEW.cleared_at))
    EXECUTE FUNCTION dw_stats_event_day_mark();

-- 0155's step for both tables: recount from the first queued day on, then count the days from
-- covered_to up to yesterday (at most max_days past covered_to per call); -1 while a write or
-- another node holds the lock.  A first run starts at the day of the first alarm or warning.
DROP FUNCTION dw_stats_alarm_day_advance(integer);
CREATE FUNCTION dw_stats_event_day_advance(max_days integer, OUT days_done integer, OUT covered date)
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
    SELECT s.covered_to INTO cov FROM stats_event_day_state s FOR UPDATE;
    IF cov IS NULL THEN
        SELECT (least((SELECT min(a.raised_at) FROM alarms a), (SELECT min(w.issued_at) FROM warnings w))
                AT TIME ZONE 'Asia/Shanghai')::date INTO cov;
        cov := least(coalesce(cov, today), today);
        INSERT INTO stats_event_day_state (covered_to) VALUES (cov);
        DELETE FROM stats_alarm_day;
        DELETE FROM stats_warning_day;
        DELETE FROM stats_event_day_stale;
    END IF;
    SELECT least(min(st.day), cov) INTO from_d FROM stats_event_day_stale st WHERE st.day < cov;
    from_d := coalesce(from_d, cov);
    -- the queued days past the watermark are counted below anyway
    DELETE FROM stats_event_day_stale;
    DELETE FROM stats_alarm_day WHERE day >= from_d;
    DELETE FROM stats_warning_day WHERE day >= from_d;
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
        INSERT INTO stats_warning_day
            SELECT d.day, e.id,
                coalesce(b.n, 0) + sum(coalesce(c.n, 0)) OVER w,
                coalesce(b.blue, 0) + sum(coalesce(c.blue, 0)) OVER w,
                coalesce(b.yellow, 0) + sum(coalesce(c.yellow, 0)) OVER w,
                coalesce(b.orange, 0) + sum(coalesce(c.orange, 0)) OVER w,
                coalesce(b.red, 0) + sum(coalesce(c.red, 0)) OVER w,
                coalesce(b.signed, 0) + sum(coalesce(c.signed, 0)) OVER w,
                coalesce(b.signed_on_time, 0) + sum(coalesce(c.signed_on_time, 0)) OVER w,
                coalesce(b.cleared, 0) + sum(coalesce(c.cleared, 0)) OVER w,
                coalesce(b.cleared_on_time, 0) + sum(coalesce(c.cleared_on_time, 0)) OVER w
            FROM enterprises e
            CROSS JOIN (SELECT g::date AS day FROM generate_series(from_d, target - 1, interval '1 day') g) d
            LEFT JOIN stats_warning_day b ON b.day = from_d - 1 AND b.enterprise_id = e.id
            LEFT JOIN (
                SELECT w.enterprise_id, (w.issued_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
                    count(*) AS n,
                    count(*) FILTER (WHERE w.grade = 'blue') AS blue,
                    count(*) FILTER (WHERE w.grade = 'yellow') AS yellow,
                    count(*) FILTER (WHERE w.grade = 'orange') AS orange,
                    count(*) FILTER (WHERE w.grade = 'red') AS red,
                    count(*) FILTER (WHERE w.signed_at IS NOT NULL) AS signed,
                    count(*) FILTER (WHERE w.signed_at <= w.sign_by) AS signed_on_time,
                    count(*) FILTER (WHERE w.cleared_at IS NOT NULL) AS cleared,
                    count(*) FILTER (WHERE w.cleared_at <= w.clear_by) AS cleared_on_time
                FROM warnings w
                WHERE w.issued_at >= (from_d::timestamp AT TIME ZONE 'Asia/Shanghai')
                  AND w.issued_at < (target::timestamp AT TIME ZONE 'Asia/Shanghai')
                GROUP BY 1, 2) c ON c.enterprise_id = e.id AND c.day = d.day
            WINDOW w AS (PARTITION BY e.id ORDER BY d.day);
        days_done := target - from_d;
    END IF;
    cov := greatest(cov, target);
    UPDATE stats_event_day_state SET covered_to = cov, updated_at = now();
    covered := cov;
END
$$;
COMMENT ON FUNCTION dw_stats_event_day_advance(integer) IS 'worker: recounts stats_alarm_day and stats_warning_day from their first stale day and counts the whole days from covered_to up to yesterday, at most max_days days past covered_to per call; -1 while the lock is held elsewhere';

REVOKE ALL ON FUNCTION dw_stats_event_day_mark(), dw_stats_event_day_advance(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_stats_event_day_advance(integer) TO dustwatch_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON stats_warning_day TO dustwatch_app;

-- the warnings' totals start where the alarms' stand: recounted from the first day at the
-- worker's next step
DELETE FROM stats_event_day_state;
