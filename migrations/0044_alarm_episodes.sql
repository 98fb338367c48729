-- 0044: alarm episodes (issue 16 item 1).  Repeated triggers of the same point
-- channel fold into one episode: a raise less than alarm_episode_window_s after
-- the latest episode of that point and channel cleared (and that episode is not
-- closed) reopens it instead of inserting a row.  The episode keeps how many
-- triggers it had, the first (raised_at) and last trigger time and the peak
-- value over its triggers; every repeat is one 'retrigger' row in alarm_events.
-- The risk engine counts alarms rows, so an episode counts once however many
-- triggers it had (the count is for people).
--
-- A spark detection (火花探测, point kind spark_detected) is its own alarm kind
-- 'spark': a process hazard (an ignition source in the duct), level 2, not a
-- device fault.
--
-- labels: the one catalogue of display texts (zh-CN and English) of codes the
-- API answers with; here the state texts of digital points, so a digital alarm
-- reads "检测到火花" instead of "1 / 1".

ALTER TABLE alarms
    ADD COLUMN trigger_count integer NOT NULL DEFAULT 1 CHECK (trigger_count >= 1),
    ADD COLUMN last_trigger_at timestamptz,
    ADD COLUMN peak_value double precision,
    ADD CONSTRAINT alarms_last_trigger_check CHECK (last_trigger_at IS NULL OR last_trigger_at >= raised_at);
COMMENT ON COLUMN alarms.trigger_count IS 'triggers folded into this episode (1 = the raise only); the risk score counts the episode once';
COMMENT ON COLUMN alarms.last_trigger_at IS 'sample time of the latest trigger (NULL: only the raise, read as raised_at)';
COMMENT ON COLUMN alarms.peak_value IS 'most extreme triggering value of the episode (lowest for low/low_low, else highest); NULL: none';
COMMENT ON COLUMN alarms.raised_at IS 'sample time of the first trigger of the episode (not the time we received it); part of the episode key';

ALTER TABLE alarms DROP CONSTRAINT alarms_kind_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_kind_check CHECK (kind IN ('high', 'high_high', 'low', 'low_low', 'rate_of_rise',
    'digital_fault', 'frozen', 'out_of_range', 'offline', 'gateway_fault', 'video', 'gateway_offline', 'spark'));
COMMENT ON COLUMN alarms.kind IS 'current kind; an episode escalates high -> high_high and de-escalates back in place; spark: a spark detection (process hazard, level 2)';

ALTER TABLE alarm_events DROP CONSTRAINT alarm_events_action_check;
ALTER TABLE alarm_events ADD CONSTRAINT alarm_events_action_check CHECK (action IN ('raise', 'escalate', 'deescalate', 'clear',
    'acknowledge', 'handle', 'close', 'ack_overdue', 'handle_overdue', 'comment', 'retrigger'));

-- the fold's lookup: the latest episode of a point channel
CREATE INDEX alarms_point_channel_idx ON alarms (point_id, channel, raised_at DESC) WHERE point_id IS NOT NULL;

CREATE TABLE labels (
    domain  text NOT NULL CHECK (domain ~ '^[a-z_]{2,40}$'),
    code    text NOT NULL CHECK (length(code) BETWEEN 1 AND 100),
    zh      text NOT NULL CHECK (length(zh) BETWEEN 1 AND 200),
    en      text NOT NULL CHECK (length(en) BETWEEN 1 AND 200),
    PRIMARY KEY (domain, code)
);
COMMENT ON TABLE labels IS 'the one catalogue of display labels: zh-CN and English text of a code in a domain (alarm kinds, reasons, digital states ...); served by GET /api/v1/labels';
COMMENT ON COLUMN labels.domain IS 'what kind of code: digital_state, alarm_kind, ...';
COMMENT ON COLUMN labels.code IS 'the code as the API answers it; digital_state: <indicator kind>:<0|1>';
COMMENT ON COLUMN labels.zh IS 'zh-CN text';
COMMENT ON COLUMN labels.en IS 'English text';
INSERT INTO labels (domain, code, zh, en) VALUES
    ('digital_state', 'spark_detected:1', '检测到火花', 'spark detected'),
    ('digital_state', 'spark_detected:0', '无火花', 'no spark'),
    ('digital_state', 'airlock_fault:1', '锁气卸灰故障', 'air-lock fault'),
    ('digital_state', 'airlock_fault:0', '锁气卸灰正常', 'air-lock normal'),
    ('digital_state', 'fan_running:1', '风机运行', 'fan running'),
    ('digital_state', 'fan_running:0', '风机停机', 'fan stopped'),
    ('digital_state', 'power_on:1', '设备上电', 'powered'),
    ('digital_state', 'power_on:0', '设备断电', 'power off');
GRANT SELECT ON labels TO dustwatch_app;
