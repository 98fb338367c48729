-- 0150: the statistics plan the readings of late and quarantined hours only when there are any
-- (issue 15, statistics p99 ≤ 100 ms; server/README.md "Statistics").
--
-- The statistics read raw readings in two ways: the tail above the rollup watermark (a day or
-- two of partitions, bounded by parameters the planner sees) and, one hour at a time, the hours
-- the rollups do not hold yet (rollup_dirty: late readings; rollup_quarantine).  The second went
-- through dw_readings (0137), which the planner inlines; called with an hour taken from a table,
-- nothing bounds it at plan time, so every statement planned every day partition of the period
-- (a custom 30 days: ~31 partitions and readings_packed, each under its row-level-security
-- policy) twice, to read what is usually no row at all: ~4.5 of part A's ~19 ms of planning
-- (EXPLAIN ANALYZE at 2,000 enterprises, tests/bench/stats_bench.sh's fixture).
--
-- dw_readings_call answers exactly what dw_readings answers (it calls it; row-level security
-- of the caller, not SECURITY DEFINER), but as PL/pgSQL the planner cannot inline it: a
-- statement plans one function-scan node, and the query inside is planned when the function
-- first runs (PL/pgSQL keeps it for the session, pruning the partitions at each call).

CREATE FUNCTION dw_readings_call(p bigint, t0 timestamptz, t1 timestamptz)
RETURNS TABLE (collected_at timestamptz, value double precision, quality smallint, enterprise_id bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT r.collected_at, r.value, r.quality, r.enterprise_id FROM dw_readings(p, t0, t1) r;
END
$$;
COMMENT ON FUNCTION dw_readings_call(bigint, timestamptz, timestamptz) IS 'a point''s readings in [t0, t1), the same rows as dw_readings, as a function the planner does not inline: for hours read one at a time (late, quarantined), so that a statement which may read none does not plan every readings partition; row-level security of the caller';
GRANT EXECUTE ON FUNCTION dw_readings_call(bigint, timestamptz, timestamptz) TO dustwatch_app;
