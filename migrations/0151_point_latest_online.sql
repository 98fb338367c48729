-- 0151: point_latest carries what the statistics' "points now" need of its point, so that they
-- are counted without joining every point to its latest reading (issue 15, statistics p99 ≤ 100
-- ms; server/README.md "Statistics").
--
-- The points now (points, points online, connected) are counted per enterprise over every enabled
-- point of the scope.  Joined point by point (40,000 points to 36,000 latest readings at 2,000
-- enterprises, tests/bench/stats_bench.sh's fixture), they were ~26 of the ~62 ms that a week's
-- statistic by enterprise spends executing its part B (EXPLAIN ANALYZE, the count left out).
-- With the two columns below, the points and the latest readings are counted apart, per
-- enterprise, and only the 2,000 counts are joined; the enabled points are counted from an index
-- of their own (index-only: the points table is wide and seldom written).  Part B: 69.5-69.7 ->
-- 55.2-56.3 ms (EXPLAIN ANALYZE, means of 4, three rounds; the count alone ~28 -> ~15 ms).
--
-- online_s: a point is online while its newest reading is younger than 3 times its expected
-- interval (the overview's rule, 3 * points.expected_interval_s); mandatory: its parameter class
-- is 'mandatory' (必测; the connected rule asks them all to have sent data).  Both are copies:
--   * ingest writes them with each newest reading (db_ingest.c, from points);
--   * a change of the point's interval or class rewrites them at once (trigger below), so a point
--     that sends nothing more is still judged by its present settings;
--   * a writer that leaves them out (a test, a bench fixture) has them filled from points.
-- A disabled point's row stays; the statistics leave out disabled points by points_disabled_idx.

ALTER TABLE point_latest ADD COLUMN online_s integer, ADD COLUMN mandatory boolean;

SELECT set_config('dw.scope', 'system', true);
UPDATE point_latest l SET online_s = 3 * p.expected_interval_s, mandatory = p.param_class = 'mandatory'
    FROM points p WHERE p.id = l.point_id;

ALTER TABLE point_latest ALTER COLUMN online_s SET NOT NULL, ALTER COLUMN mandatory SET NOT NULL;
COMMENT ON COLUMN point_latest.online_s IS 'the point is online while collected_at is younger than this many seconds: 3 * points.expected_interval_s, kept in step by dw_point_latest_settings';
COMMENT ON COLUMN point_latest.mandatory IS 'points.param_class = ''mandatory'', kept in step by dw_point_latest_settings';

-- A writer that leaves them out gets them from the point (ingest names them: no call there).
CREATE FUNCTION dw_point_latest_fill() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
BEGIN
    SELECT coalesce(NEW.online_s, 3 * p.expected_interval_s), coalesce(NEW.mandatory, p.param_class = 'mandatory')
        INTO NEW.online_s, NEW.mandatory FROM points p WHERE p.id = NEW.point_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER point_latest_fill BEFORE INSERT ON point_latest FOR EACH ROW
    WHEN (NEW.online_s IS NULL OR NEW.mandatory IS NULL) EXECUTE FUNCTION dw_point_latest_fill();

-- The point's settings changed: its latest reading is judged by the new ones from now on.
CREATE FUNCTION dw_point_latest_settings() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
BEGIN
    UPDATE point_latest SET online_s = 3 * NEW.expected_interval_s, mandatory = NEW.param_class = 'mandatory'
        WHERE point_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER point_latest_settings AFTER UPDATE OF expected_interval_s, param_class ON points
    FOR EACH ROW WHEN (OLD.expected_interval_s IS DISTINCT FROM NEW.expected_interval_s
                       OR OLD.param_class IS DISTINCT FROM NEW.param_class)
    EXECUTE FUNCTION dw_point_latest_settings();

-- The enabled points per enterprise and whether mandatory, index-only (the statistics' points now,
-- and the point-hours part A expects: db_stats.c, POINTS_NOW and ptn).
CREATE INDEX points_enabled_enterprise_idx ON points (enterprise_id) INCLUDE (param_class) WHERE enabled;
