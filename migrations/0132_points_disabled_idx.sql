-- 0132: the disabled points, as an index of their own.
--
-- The statistics count point-hours by the rollup rows' and readings' own enterprise_id and
-- take the disabled points' rows away (server/db/db_stats.c, MINUS_DISABLED), instead of
-- joining every row to the enabled points: that join read all 40,000 points of a city for
-- every statistic.  Disabled points are few (a point is disabled, not deleted, once it has
-- data), so finding them should not read the others either.
CREATE INDEX points_disabled_idx ON points (id) WHERE NOT enabled;
