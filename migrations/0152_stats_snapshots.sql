-- 0152: statistics snapshots (issue 15: "fast at 2,000 enterprises, p99 <= 100 ms per
-- statistic").
--
-- A statistic counts, per enterprise of the caller's scope, ~50 figures over the period's
-- rollups, alarms, warnings, hazards and cleaning records, and then sums them per group.  At
-- 2,000 enterprises the counting is 50-110 ms of PostgreSQL time per request even in two
-- halves on two cores, and the p99 went past 100 ms whenever the machine was busy.  The
-- dashboard opens on four periods (the city's today, this week, this month, last month), so
-- the worker counts those periods for every enterprise every stats_snapshot_s seconds (system
-- scope, no filter) and stores the per-enterprise figures here; a request for one of them sums
-- the stored rows of its scope's enterprises instead (server/db/db_stats.c, SNAPSHOT_GET), the
-- answer's computed_to being when they were counted.
--
-- A request reads live when the snapshot is not recent enough (worker stopped, falling
-- behind, stats_snapshot_s = 0), when it is older than the asking session's or API key's last
-- write through its API process (its own writes show at once), and for any other period.
--
-- One snapshot per period name, replaced whole in one transaction (the rows deleted and
-- counted again, the header's bounds and computed_at updated): a request sees the old count
-- or the new one, and the table stays 4 x 2,000 rows whose planner statistics stay true.

CREATE TABLE stats_snapshots (
    period              text PRIMARY KEY CHECK (period IN ('day', 'week', 'month', 'last_month')),
    period_from         timestamptz NOT NULL,
    period_to           timestamptz NOT NULL CHECK (period_to > period_from),
    connected_window_s  integer NOT NULL CHECK (connected_window_s > 0),
    computed_at         timestamptz NOT NULL
);
COMMENT ON TABLE stats_snapshots IS 'the last count of each dashboard period (the city''s today, this week, this month, last month) for every enterprise (rows in stats_snapshot_rows), made by the worker; periods only, no enterprise data, hence no row-level security';
COMMENT ON COLUMN stats_snapshots.period_from IS 'the period counted, [period_from, period_to): a request for other bounds (the period moved on at midnight) reads live';
COMMENT ON COLUMN stats_snapshots.connected_window_s IS 'the connected window it was counted with (connected_window_h): a request with another reads live';
COMMENT ON COLUMN stats_snapshots.computed_at IS 'when it was counted (its transaction''s start): the answer''s computed_to';

-- One row per enterprise: the columns of db_stats.c's pe CTE, in its order (the fill inserts
-- pe.* after the period; a column missing here fails the fill, loudly).
CREATE TABLE stats_snapshot_rows (
    period                    text NOT NULL REFERENCES stats_snapshots ON DELETE CASCADE,
    enterprise_id             bigint NOT NULL,
    points                    integer NOT NULL,
    points_online             integer NOT NULL,
    connected                 boolean NOT NULL,
    hours_expected            numeric NOT NULL,
    hours_with_data           numeric NOT NULL,
    intr_n                    integer NOT NULL,
    intr_hours                numeric NOT NULL,
    al_n                      integer NOT NULL,
    l0                        integer NOT NULL,
    l1                        integer NOT NULL,
    l2                        integer NOT NULL,
    al_overdue                integer NOT NULL,
    handle_due                integer NOT NULL,
    handled_on_time           integer NOT NULL,
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
    w_n                       integer NOT NULL,
    blue                      integer NOT NULL,
    yellow                    integer NOT NULL,
    orange                    integer NOT NULL,
    red                       integer NOT NULL,
    sign_due                  integer NOT NULL,
    signed_on_time            integer NOT NULL,
    clear_due                 integer NOT NULL,
    cleared_on_time           integer NOT NULL,
    w_overdue                 integer NOT NULL,
    escalations               integer NOT NULL,
    cl_required               integer NOT NULL,
    cl_done                   integer NOT NULL,
    hz_found                  integer NOT NULL,
    hz_found_major            integer NOT NULL,
    hz_closed                 integer NOT NULL,
    hz_open                   integer NOT NULL,
    hz_open_major             integer NOT NULL,
    hz_overdue                integer NOT NULL,
    hz_overdue_major          integer NOT NULL,
    PRIMARY KEY (period, enterprise_id)
);
COMMENT ON TABLE stats_snapshot_rows IS 'an enterprise''s statistics figures of a period''s last count (db_stats.c pe): counts, point-hours, and the figures of now (points online, connected, overdue, open hazards) as of computed_at';

ALTER TABLE stats_snapshot_rows ENABLE ROW LEVEL SECURITY;
ALTER TABLE stats_snapshot_rows FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON stats_snapshot_rows USING (
    (SELECT current_setting('dw.scope', true) = 'system') OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK ((SELECT current_setting('dw.scope', true) = 'system'));

-- Planner statistics for a table that has never had them: estimated blind, a period's rows
-- were taken for one and joined to the 2,000 enterprises by a nested loop (210 ms instead of 25
-- for a week by enterprise, EXPLAIN ANALYZE).  The worker calls this after each refresh;
-- autovacuum's analyze keeps them from then on.  Runs as the owner: the worker's role may not
-- ANALYZE.
CREATE FUNCTION dw_stats_snapshot_analyze() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF (SELECT c.reltuples FROM pg_class c WHERE c.oid = 'stats_snapshot_rows'::regclass) >= 0 THEN
        RETURN false;
    END IF;
    ANALYZE stats_snapshots, stats_snapshot_rows;
    RETURN true;
END
$$;
COMMENT ON FUNCTION dw_stats_snapshot_analyze() IS 'worker: analyzes the snapshot tables when they have never been analyzed (true: it did)';
REVOKE ALL ON FUNCTION dw_stats_snapshot_analyze() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_stats_snapshot_analyze() TO dustwatch_app;

GRANT SELECT, INSERT, UPDATE, DELETE ON stats_snapshots, stats_snapshot_rows TO dustwatch_app;
