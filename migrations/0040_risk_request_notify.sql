-- 0040: a recompute request wakes the risk worker (issue 20, warning latency).
-- Every statement that queues enterprises in risk_recompute_requests (the ingest writer's
-- alarm transitions, the alarm API, cleaning check-ins, assets, archive changes through
-- enterprises_sync_profile, psql) notifies channel dw_risk_recompute; PostgreSQL delivers
-- it when that transaction commits, so the worker reads committed requests only.  The
-- worker LISTENs between its ticks and recomputes at once instead of at its next tick,
-- which stays as the safety net.  One notification per statement (not per row), empty
-- payload: the queue table says which enterprises, the notification only says "look".

CREATE FUNCTION dw_risk_request_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dw_risk_recompute', '');
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION dw_risk_request_notify() IS 'statement trigger on risk_recompute_requests: NOTIFY dw_risk_recompute (the risk worker wakes at commit)';
CREATE TRIGGER risk_recompute_requests_notify AFTER INSERT ON risk_recompute_requests
    FOR EACH STATEMENT EXECUTE FUNCTION dw_risk_request_notify();
