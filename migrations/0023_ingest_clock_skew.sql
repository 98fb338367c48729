-- 0023: items rejected for clock skew, counted.  A reading, event or video
-- alarm whose timestamp is further ahead of the server's clock than ingest
-- allows (5 minutes) is rejected per item (future_timestamp, the answer says
-- how far ahead); the ingest writer also counts it here, per enterprise, UTC day,
-- dialect and gateway code, in the batch's transaction, so a gateway with a
-- wrong clock shows up in the data-quality figures instead of only in replies
-- nobody reads.

CREATE TABLE ingest_clock_skew (
    enterprise_id bigint NOT NULL REFERENCES enterprises (id),
    day           date NOT NULL,
    source        text NOT NULL CHECK (source IN ('native', 'hebei', 'mem')),
    gateway_code  text NOT NULL DEFAULT '' CHECK (length(gateway_code) <= 64),
    rejected      bigint NOT NULL CHECK (rejected > 0),
    max_ahead_s   double precision NOT NULL,
    last_ahead_s  double precision NOT NULL,
    last_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enterprise_id, day, source, gateway_code)
);
COMMENT ON TABLE ingest_clock_skew IS 'ingest items rejected because their timestamp was ahead of the server clock (future_timestamp), counted per enterprise, UTC day of receipt, dialect and gateway code';
COMMENT ON COLUMN ingest_clock_skew.day IS 'UTC day the items were received';
COMMENT ON COLUMN ingest_clock_skew.source IS 'the ingest dialect of the batches';
COMMENT ON COLUMN ingest_clock_skew.gateway_code IS 'the gateway code the batches named (native gateway, Hebei wgbm), empty when none';
COMMENT ON COLUMN ingest_clock_skew.rejected IS 'items rejected as future_timestamp';
COMMENT ON COLUMN ingest_clock_skew.max_ahead_s IS 'the furthest ahead of the server clock an item was that day, in seconds';
COMMENT ON COLUMN ingest_clock_skew.last_ahead_s IS 'how far ahead the latest rejected item was, in seconds';
COMMENT ON COLUMN ingest_clock_skew.last_at IS 'when the latest one was received';

-- per enterprise, as the readings are
ALTER TABLE ingest_clock_skew ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest_clock_skew FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON ingest_clock_skew
    USING (current_setting('dw.scope', true) = 'system' OR dw_visible_enterprise(enterprise_id))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR dw_visible_enterprise(enterprise_id));
GRANT SELECT, INSERT, UPDATE ON ingest_clock_skew TO dustwatch_app;
