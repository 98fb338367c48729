-- 0022: gateway-offline alarms.  The worker raises one when a gateway that was
-- heard from (gateways.last_seen_at, maintained by the ingest writers) has been
-- silent longer than gateway_offline_after_s, and clears it when the gateway is
-- heard again.  Such an alarm has no point: it names its gateway (gateway_id,
-- and gateway_code so the alarm still says which one after the gateway row is
-- deleted).  source 'rule' (our engine decides), channel and kind
-- 'gateway_offline', level 0 like a point's offline alarm (data quality).

ALTER TABLE alarms ADD COLUMN gateway_id bigint REFERENCES gateways (id) ON DELETE SET NULL;
ALTER TABLE alarms ADD COLUMN gateway_code text;
COMMENT ON COLUMN alarms.gateway_id IS 'gateway-offline alarms: the gateway (NULL after it was deleted)';
COMMENT ON COLUMN alarms.gateway_code IS 'gateway-offline alarms: the gateway''s code at the raise';

ALTER TABLE alarms DROP CONSTRAINT alarms_channel_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_channel_check CHECK (channel IN ('limit', 'rate', 'frozen', 'range', 'offline',
    'gateway', 'video', 'gateway_offline'));
ALTER TABLE alarms DROP CONSTRAINT alarms_kind_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_kind_check CHECK (kind IN ('high', 'high_high', 'low', 'low_low', 'rate_of_rise',
    'digital_fault', 'frozen', 'out_of_range', 'offline', 'gateway_fault', 'video', 'gateway_offline'));
-- a point alarm has a point; a video or gateway-offline alarm has none
ALTER TABLE alarms DROP CONSTRAINT alarms_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_point_check CHECK ((point_id IS NULL) = (channel IN ('video', 'gateway_offline')));
ALTER TABLE alarms ADD CONSTRAINT alarms_gateway_check CHECK ((channel = 'gateway_offline') = (gateway_code IS NOT NULL)
    AND (gateway_id IS NULL OR channel = 'gateway_offline')
    AND (channel <> 'gateway_offline' OR (source = 'rule' AND kind = 'gateway_offline')));

-- one open episode per gateway; the episode key makes a retried raise a no-op
CREATE UNIQUE INDEX alarms_gateway_open_idx ON alarms (gateway_id) WHERE gateway_id IS NOT NULL AND cleared_at IS NULL;
CREATE UNIQUE INDEX alarms_gateway_episode_idx ON alarms (gateway_id, raised_at) WHERE gateway_id IS NOT NULL;
-- the worker's scan
CREATE INDEX gateways_last_seen_idx ON gateways (last_seen_at) WHERE last_seen_at IS NOT NULL;
