-- 0111: how long a point was filed in a period, for statistics (issue 14 item 1).
--
-- An online rate over a period (a day, a month) leaves out the time an approved filing
-- covered the point: dw_filed_seconds answers that time (overlapping filings counted
-- once; an ended filing up to its 复产).  With point and system NULL it counts only
-- filings of the whole enterprise, as dw_filing_covers and dw_enterprise_filed do.

CREATE FUNCTION dw_filed_seconds(ent bigint, point bigint, sys bigint, t0 timestamptz, t1 timestamptz)
    RETURNS double precision LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0)::float8
    FROM unnest((SELECT range_agg(tstzrange(greatest(f.starts_at, t0),
                                            least(f.ends_at, coalesce(f.ended_at, 'infinity'), t1)))
                 FROM filings f
                 WHERE f.enterprise_id = ent AND f.status IN ('approved', 'ended') AND f.starts_at < t1
                   AND least(f.ends_at, coalesce(f.ended_at, 'infinity')) > t0 AND t0 < t1
                   AND ((cardinality(f.point_ids) = 0 AND cardinality(f.system_ids) = 0)
                        OR point = ANY (f.point_ids) OR sys = ANY (f.system_ids)))) r
$$;
COMMENT ON FUNCTION dw_filed_seconds(bigint, bigint, bigint, timestamptz, timestamptz) IS
    'seconds of [t0, t1) an approved filing covered the point (of the system) of the enterprise; point and system NULL: whole-enterprise filings only';
