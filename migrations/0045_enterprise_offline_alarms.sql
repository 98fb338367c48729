-- 0045: enterprise-offline alarms (issue 16 item 1).  When at least
-- enterprise_offline_min_points points of one enterprise are offline at once
-- (a gateway or the enterprise's network is down), the worker raises one
-- alarm of channel and kind 'enterprise_offline' (source rule, level 0 like a
-- point's offline alarm, no point) listing its points in alarm_points,
-- instead of one 数据中断 alarm per point.  Point offline alarms already open
-- are folded into it: closed at once with folded_into naming it (they were
-- never handled, so the handled/acknowledged checks allow folded rows).
-- Further points going offline while it is open join it; it clears when the
-- last of its points reports again.

ALTER TABLE alarms ADD COLUMN folded_into bigint REFERENCES alarms (id);
COMMENT ON COLUMN alarms.folded_into IS 'a point offline alarm folded into this enterprise-offline alarm (closed when folded)';

ALTER TABLE alarms DROP CONSTRAINT alarms_channel_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_channel_check CHECK (channel IN ('limit', 'rate', 'frozen', 'range', 'offline',
    'gateway', 'video', 'gateway_offline', 'enterprise_offline'));
ALTER TABLE alarms DROP CONSTRAINT alarms_kind_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_kind_check CHECK (kind IN ('high', 'high_high', 'low', 'low_low', 'rate_of_rise',
    'digital_fault', 'frozen', 'out_of_range', 'offline', 'gateway_fault', 'video', 'gateway_offline', 'spark',
    'enterprise_offline'));
ALTER TABLE alarms DROP CONSTRAINT alarms_point_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_point_check CHECK ((point_id IS NULL) = (channel IN ('video', 'gateway_offline',
    'enterprise_offline')));
ALTER TABLE alarms ADD CONSTRAINT alarms_enterprise_offline_check CHECK (channel <> 'enterprise_offline'
    OR (source = 'rule' AND kind = 'enterprise_offline'));
ALTER TABLE alarms ADD CONSTRAINT alarms_folded_check CHECK (folded_into IS NULL
    OR (channel = 'offline' AND state = 'closed' AND cleared_at IS NOT NULL));
ALTER TABLE alarms DROP CONSTRAINT alarms_check5;
ALTER TABLE alarms ADD CONSTRAINT alarms_acked_check CHECK (state = 'active' OR acked_at IS NOT NULL OR folded_into IS NOT NULL);
ALTER TABLE alarms DROP CONSTRAINT alarms_check6;
ALTER TABLE alarms ADD CONSTRAINT alarms_handled_check CHECK (state NOT IN ('handled', 'closed')
    OR (handled_at IS NOT NULL AND cause_category IS NOT NULL) OR folded_into IS NOT NULL);

CREATE UNIQUE INDEX alarms_enterprise_offline_open_idx ON alarms (enterprise_id)
    WHERE channel = 'enterprise_offline' AND cleared_at IS NULL;
CREATE INDEX alarms_folded_idx ON alarms (folded_into) WHERE folded_into IS NOT NULL;

ALTER TABLE alarm_events DROP CONSTRAINT alarm_events_action_check;
ALTER TABLE alarm_events ADD CONSTRAINT alarm_events_action_check CHECK (action IN ('raise', 'escalate', 'deescalate', 'clear',
    'acknowledge', 'handle', 'close', 'ack_overdue', 'handle_overdue', 'comment', 'retrigger', 'point_offline',
    'point_back'));

CREATE TABLE alarm_points (
    alarm_id       bigint NOT NULL REFERENCES alarms (id),
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    point_id       bigint NOT NULL REFERENCES points (id),
    last_data_at   timestamptz,
    joined_at      timestamptz NOT NULL,
    back_at        timestamptz,
    PRIMARY KEY (alarm_id, point_id),
    CHECK (back_at IS NULL OR back_at >= joined_at)
);
COMMENT ON TABLE alarm_points IS 'the points of an enterprise-offline alarm';
COMMENT ON COLUMN alarm_points.last_data_at IS 'newest sample of the point when it joined (NULL: never reported)';
COMMENT ON COLUMN alarm_points.joined_at IS 'when the point was offline in this alarm (its offline deadline)';
COMMENT ON COLUMN alarm_points.back_at IS 'sample time of its first data again (NULL: still offline)';
CREATE INDEX alarm_points_point_idx ON alarm_points (point_id) WHERE back_at IS NULL;
ALTER TABLE alarm_points ENABLE ROW LEVEL SECURITY;
ALTER TABLE alarm_points FORCE ROW LEVEL SECURITY;
-- the policy shape of 0013 (system, focus enterprise, city, then the visible enterprises)
CREATE POLICY scope ON alarm_points
    USING (current_setting('dw.scope', true) = 'system' OR enterprise_id = (SELECT dw_focus_enterprise())
           OR (SELECT dw_scope_is_city()) OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR enterprise_id = (SELECT dw_focus_enterprise())
           OR (SELECT dw_scope_is_city()) OR enterprise_id IN (SELECT e.id FROM enterprises e));
GRANT SELECT, INSERT, UPDATE ON alarm_points TO dustwatch_app;

INSERT INTO labels (domain, code, zh, en) VALUES
    ('alarm_kind', 'enterprise_offline', '企业数据中断', 'enterprise offline');
