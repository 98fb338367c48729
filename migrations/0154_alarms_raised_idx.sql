-- 0154: alarms by when they were raised (issue 15, "p99 <= 100 ms per statistic").  The
-- statistics count the alarms raised in the period, the alarm trend those of the last days, and
-- the alarm list's from/to (the statistics' drill-down links) select them the same way; no index
-- led with raised_at (alarms_enterprise_idx leads with the enterprise), so each of them read
-- every alarm ever kept.  With a year of alarms behind the bench's month (744,000 rows), a custom
-- 30 days' alarm half took 168-184 ms instead of 66 (EXPLAIN ANALYZE at 2,000 enterprises,
-- tests/bench/README.md); 0131 gave the warnings and escalations theirs.
CREATE INDEX alarms_raised_idx ON alarms (raised_at);
