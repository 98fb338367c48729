-- 0144: a point's series plans the packed days only when its range reaches them (issue 20,
-- performance: the point series' CPU floor, server/README.md "The series' CPU floor").
--
-- The series statements (server/db/db_points.c) read raw readings through dw_readings (0137),
-- which the planner inlines: the day partitions and readings_packed, each under row-level
-- security.  A prepared statement's generic plan initialises every node it holds at every run,
-- run or not; readings_packed brings its scan, the unnest, and its policy (two init plans and
-- the hashed sub-plan over enterprises, with that table's own eight), about 0.05 ms of the
-- ~1.4 ms of PostgreSQL CPU of a week's hourly series (api_bench's full-scale fixture), and
-- for a chart of the last days the packed arm never has a row: only days below
-- readings_pack_state.packed_before are packed (0137: "no instant is also in readings").
--
-- dw_readings_lazy answers exactly what dw_readings answers (the same rows, the same
-- row-level security of the caller: neither function is SECURITY DEFINER) and is inlined the
-- same way, but its packed arm is dw_readings_packed_part, a PL/pgSQL function the planner
-- cannot inline, behind a one-time filter on the horizon: a range starting on or after
-- packed_before (or with nothing packed, NULL) never runs it, so it is neither planned nor
-- initialised beyond one function-scan node; a range starting before it reads the packed rows
-- as dw_readings does (PL/pgSQL keeps the query's plan for the session).  dw_readings stays as
-- it is for its other readers.

CREATE FUNCTION dw_readings_packed_part(p bigint, t0 timestamptz, t1 timestamptz)
RETURNS TABLE (collected_at timestamptz, value double precision, quality smallint, enterprise_id bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT u.at, u.v, u.q, u.e FROM (
        SELECT (k.day::timestamp AT TIME ZONE 'UTC')
                   + coalesce(x.us, x.ms * 1000::bigint) * interval '1 microsecond' AS at,
               x.v, coalesce(x.q, 0::smallint) AS q, k.enterprise_id AS e
        FROM readings_packed k
        CROSS JOIN LATERAL unnest(k.offsets_ms, k.offsets_us, k.vals, k.quals) AS x(ms, us, v, q)
        WHERE k.point_id = p AND k.day >= (t0 AT TIME ZONE 'UTC')::date
          AND k.day <= ((t1 - interval '1 microsecond') AT TIME ZONE 'UTC')::date) u
        WHERE u.at >= t0 AND u.at < t1;
END
$$;
COMMENT ON FUNCTION dw_readings_packed_part(bigint, timestamptz, timestamptz) IS 'dw_readings''s packed arm as a function the planner does not inline (dw_readings_lazy calls it only when the range reaches a packed day); row-level security of the caller';
GRANT EXECUTE ON FUNCTION dw_readings_packed_part(bigint, timestamptz, timestamptz) TO dustwatch_app;

CREATE FUNCTION dw_readings_lazy(p bigint, t0 timestamptz, t1 timestamptz)
RETURNS TABLE (collected_at timestamptz, value double precision, quality smallint, enterprise_id bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.collected_at, r.value, r.quality, r.enterprise_id FROM readings r
        WHERE r.point_id = p AND r.collected_at >= t0 AND r.collected_at < t1
    UNION ALL
    SELECT k.collected_at, k.value, k.quality, k.enterprise_id
        FROM dw_readings_packed_part(p, t0, t1) k
        WHERE (SELECT s.packed_before FROM readings_pack_state s) > (t0 AT TIME ZONE 'UTC')::date
$$;
COMMENT ON FUNCTION dw_readings_lazy(bigint, timestamptz, timestamptz) IS 'a point''s readings in [t0, t1), the same rows as dw_readings (inlined by the planner; row-level security of the caller), the packed days read (and planned) only when t0 is below readings_pack_state.packed_before: the point series'' statements';
GRANT EXECUTE ON FUNCTION dw_readings_lazy(bigint, timestamptz, timestamptz) TO dustwatch_app;
