-- 0136: the risk inputs' overdue counts (issue 20, "full recompute of 5,000 enterprises <= 1 s").
--
-- rsk_inputs (server/db/db_risk.c) counts each enterprise's unfinished alarms (active or
-- acknowledged) past their deadlines.  With only alarms_enterprise_idx (every alarm the
-- enterprise ever had) and alarms_unfinished_idx (every unfinished alarm of the city) the
-- plan ANDed two bitmaps per enterprise: the city's whole unfinished list at each of them, and
-- the enterprise's whole history, which grows with the alarms kept.  This index holds only the
-- unfinished alarms, by enterprise: a batch of 500 of the bench fixture 20.2 -> 16.9 ms
-- (tests/bench/recompute_bench.sh).  state is already a predicate column of
-- alarms_unfinished_idx, so no update that was HOT before stops being one.
CREATE INDEX alarms_enterprise_unfinished_idx ON alarms (enterprise_id)
    WHERE state IN ('active', 'acknowledged');
