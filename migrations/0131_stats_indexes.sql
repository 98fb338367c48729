-- 0131: indexes for the statistics statement (issue 15, "p99 <= 100 ms per statistic").  Each
-- replaces a scan of the whole table per request that EXPLAIN ANALYZE showed at 2,000 enterprises
-- (tests/bench/stats_bench.sh), and grows with the history kept, not with the period asked.
--
-- Interruptions (statistics, data quality): data-interruption alarms overlapping the period,
-- "raised before its end and not cleared before its start".  Indexed by when they ended (open
-- ones at infinity), so a period reads the interruptions that ended in or after it, not all
-- those ever raised before it; the expression is the statements' own.
CREATE INDEX alarms_interruption_end_idx ON alarms ((coalesce(cleared_at, 'infinity'::timestamptz)))
    WHERE kind IN ('offline', 'enterprise_offline', 'gateway_offline') AND folded_into IS NULL;

-- Warnings issued in the period (warnings_enterprise_idx leads with the enterprise).
CREATE INDEX warnings_issued_idx ON warnings (issued_at);

-- Escalations in the period: the escalate steps only, a small part of a warning's events.
CREATE INDEX warning_events_escalate_at_idx ON warning_events (at) WHERE action = 'escalate';
