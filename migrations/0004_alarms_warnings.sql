-- 0004: point alarms (报警) and their handling, dust-cleaning check-ins (粉尘清理打卡),
-- enterprise risk scores, early warnings (预警) with escalation, 督办 / 执法 / 通报 records,
-- webhook subscriptions and the notification outbox.
--
-- Who writes what (for the API engineer building the routes on top of these tables):
--
--   table                       written by                             API may
--   point_rule_state            ingest writer (same tx as readings),   read (diagnostics)
--                               worker (offline timer)
--   alarms                      ingest writer (raise/escalate/clear),  UPDATE ack/handle/close columns
--                               worker (overdue flags)                  + INSERT alarm_events in one tx
--   alarm_events                everyone, append-only                  INSERT, SELECT
--   cleaning_areas/_checkins    API                                    CRUD areas, INSERT check-ins
--   risk_scores                 worker, append-only                    SELECT (history, breakdown)
--   enterprise_risk             worker                                 SELECT (current, ranking)
--   risk_recompute_requests     ingest writer, API (after check-ins,   INSERT ... ON CONFLICT DO NOTHING
--                               alarm handling, profile edits), worker
--   enterprise_profiles         API / import                           CRUD
--   warnings                    worker (issue, escalate), API (sign,   UPDATE status columns
--                               feedback, request clearance, approve,   + INSERT warning_events in one tx
--                               return)
--   warning_events              everyone, append-only                  INSERT, SELECT
--   supervisions / enforcement_referrals                               worker creates, API updates status
--   public_notices              API (districts)                        CRUD
--   webhook_subscriptions       API (admins)                           CRUD
--   notification_outbox         worker, API (on sign/approve ...)      INSERT
--
-- Times of the engine's rule state are plain epoch seconds (the engine's unit); everything a
-- person reads is timestamptz.  Every state change of an alarm or a warning is one row in
-- alarm_events / warning_events with who, when and why: the API must write the change and
-- its event in the same transaction.

-- ---------------------------------------------------------------------------------------
-- point alarm configuration that 0002 did not have
ALTER TABLE points
    ADD COLUMN offline_factor double precision NOT NULL DEFAULT 3
        CHECK (offline_factor = 0 OR offline_factor >= 1),
    ADD COLUMN frozen_samples integer NOT NULL DEFAULT 0
        CHECK (frozen_samples = 0 OR frozen_samples BETWEEN 2 AND 100000),
    ADD COLUMN frozen_epsilon double precision NOT NULL DEFAULT 0 CHECK (frozen_epsilon >= 0),
    ADD COLUMN fault_value smallint CHECK (fault_value IN (0, 1));
COMMENT ON COLUMN points.offline_factor IS 'offline alarm after offline_factor x expected_interval_s without data; 0 = off';
COMMENT ON COLUMN points.frozen_samples IS 'frozen-value alarm after this many identical consecutive samples (analog only); 0 = off';
COMMENT ON COLUMN points.frozen_epsilon IS 'samples differing by at most this count as identical for the frozen-value rule';
COMMENT ON COLUMN points.fault_value IS 'digital points: the value meaning fault; NULL = by kind (fan_running and power_on: 0, others: 1)';

-- ---------------------------------------------------------------------------------------
-- The worker now creates partitions ahead while ingest writers create back-filled days on
-- demand.  The advisory lock in 0002's function does not refresh the catalog snapshot, so
-- two sessions racing for the same new day could both reach CREATE TABLE and one failed
-- (a 503 for its batch).  Same function, but losing the race is now a quiet "exists".
CREATE OR REPLACE FUNCTION dw_ensure_readings_partition(day date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    part text := 'readings_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(part));
    BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
                       part, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        RETURN false;
    END;
    RETURN true;
END
$$;
COMMENT ON FUNCTION dw_ensure_readings_partition(date) IS 'creates the daily readings partition for a UTC day if missing; safe under concurrent callers';

-- ---------------------------------------------------------------------------------------
CREATE TABLE point_rule_state (
    point_id        bigint PRIMARY KEY REFERENCES points (id),
    enterprise_id   bigint NOT NULL REFERENCES enterprises (id),
    level           smallint NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 9),
    pending_level   smallint NOT NULL DEFAULT 0 CHECK (pending_level BETWEEN 0 AND 9),
    rate_active     boolean NOT NULL DEFAULT false,
    frozen_active   boolean NOT NULL DEFAULT false,
    range_active    boolean NOT NULL DEFAULT false,
    offline_active  boolean NOT NULL DEFAULT false,
    has_value       boolean NOT NULL DEFAULT false,
    pending_since   bigint NOT NULL DEFAULT 0,
    level_since     bigint NOT NULL DEFAULT 0,
    last_ts         bigint NOT NULL,
    last_value_ts   bigint NOT NULL DEFAULT 0,
    last_value      double precision,
    frozen_count    integer NOT NULL DEFAULT 0 CHECK (frozen_count >= 0),
    rate_ref_ts     bigint NOT NULL DEFAULT 0,
    rate_ref_value  double precision,
    offline_due_at  bigint,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE point_rule_state IS 'the alarm engine''s rule state per point (risk_point_state), updated in the same transaction as the readings that changed it';
COMMENT ON COLUMN point_rule_state.enterprise_id IS 'copied from the point for row-level security';
COMMENT ON COLUMN point_rule_state.level IS 'risk_alarm_kind of the active limit/digital alarm (0 none, 1 high, 2 high_high, 3 low, 4 low_low, 6 digital_fault)';
COMMENT ON COLUMN point_rule_state.pending_level IS 'level waiting for min_duration_s to pass; equals level when nothing is pending';
COMMENT ON COLUMN point_rule_state.rate_active IS 'rate-of-rise alarm active';
COMMENT ON COLUMN point_rule_state.frozen_active IS 'frozen-value alarm active';
COMMENT ON COLUMN point_rule_state.range_active IS 'out-of-physical-range (sensor fault) alarm active';
COMMENT ON COLUMN point_rule_state.offline_active IS 'no-data alarm active';
COMMENT ON COLUMN point_rule_state.has_value IS 'a valid sample has been seen';
COMMENT ON COLUMN point_rule_state.pending_since IS 'epoch seconds: when the pending level was first seen';
COMMENT ON COLUMN point_rule_state.level_since IS 'epoch seconds: when the current level started';
COMMENT ON COLUMN point_rule_state.last_ts IS 'epoch seconds of the newest sample seen (the point''s creation before any); older samples are back-fill and ignored by the rules';
COMMENT ON COLUMN point_rule_state.last_value_ts IS 'epoch seconds of the newest valid sample';
COMMENT ON COLUMN point_rule_state.last_value IS 'newest valid value; NULL = none (NaN in the engine)';
COMMENT ON COLUMN point_rule_state.frozen_count IS 'consecutive identical samples so far';
COMMENT ON COLUMN point_rule_state.rate_ref_ts IS 'epoch seconds of the rate-of-rise reference sample';
COMMENT ON COLUMN point_rule_state.rate_ref_value IS 'rate-of-rise reference value; NULL = none';
COMMENT ON COLUMN point_rule_state.offline_due_at IS 'epoch seconds after which the point is offline if nothing arrives (NULL: off or already offline); the worker''s index';
CREATE INDEX point_rule_state_offline_idx ON point_rule_state (offline_due_at) WHERE offline_due_at IS NOT NULL;
CREATE INDEX point_rule_state_enterprise_idx ON point_rule_state (enterprise_id);

-- ---------------------------------------------------------------------------------------
CREATE TABLE alarms (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id    bigint NOT NULL REFERENCES enterprises (id),
    point_id         bigint REFERENCES points (id),
    source           text NOT NULL CHECK (source IN ('rule', 'gateway', 'video')),
    channel          text NOT NULL CHECK (channel IN ('limit', 'rate', 'frozen', 'range', 'offline', 'gateway', 'video')),
    kind             text NOT NULL CHECK (kind IN ('high', 'high_high', 'low', 'low_low', 'rate_of_rise', 'digital_fault',
                                                   'frozen', 'out_of_range', 'offline', 'gateway_fault', 'video')),
    level            smallint NOT NULL CHECK (level BETWEEN 0 AND 2),
    max_level        smallint NOT NULL CHECK (max_level BETWEEN 0 AND 2),
    reason           text NOT NULL DEFAULT '',
    value            double precision,
    threshold        double precision,
    raised_at        timestamptz NOT NULL,
    escalated_at     timestamptz,
    cleared_at       timestamptz,
    clear_reason     text,
    state            text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'acknowledged', 'handled', 'closed')),
    ack_deadline     timestamptz NOT NULL,
    handle_deadline  timestamptz NOT NULL,
    ack_overdue      boolean NOT NULL DEFAULT false,
    handle_overdue   boolean NOT NULL DEFAULT false,
    acked_at         timestamptz,
    acked_by         bigint REFERENCES accounts (id),
    ack_verdict      text CHECK (ack_verdict IN ('real_hazard', 'device_fault', 'unknown')),
    ack_note         text NOT NULL DEFAULT '',
    handled_at       timestamptz,
    handled_by       bigint REFERENCES accounts (id),
    cause_category   text CHECK (cause_category IN ('process_abnormal', 'equipment_fault', 'sensor_fault', 'false_alarm', 'other')),
    measures         text NOT NULL DEFAULT '' CHECK (length(measures) <= 4000),
    closed_at        timestamptz,
    closed_by        bigint REFERENCES accounts (id),
    camera_code      text,
    video_alarm_id   bigint REFERENCES video_alarms (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((source = 'video') = (point_id IS NULL)),
    CHECK ((source = 'video') = (channel = 'video') AND (source = 'gateway') = (channel = 'gateway')),
    CHECK (max_level >= level),
    CHECK (cleared_at IS NULL OR cleared_at >= raised_at),
    CHECK (ack_deadline >= raised_at AND handle_deadline >= raised_at),
    CHECK (state = 'active' OR acked_at IS NOT NULL),
    CHECK (state NOT IN ('handled', 'closed') OR (handled_at IS NOT NULL AND cause_category IS NOT NULL)),
    CHECK ((state = 'closed') = (closed_at IS NOT NULL)),
    CHECK (state <> 'closed' OR cleared_at IS NOT NULL)
);
COMMENT ON TABLE alarms IS 'one row per alarm episode (报警) of a point channel, a gateway-reported event or a video alarm; lifecycle active -> acknowledged -> handled -> closed';
COMMENT ON COLUMN alarms.point_id IS 'the point; NULL for video alarms';
COMMENT ON COLUMN alarms.source IS 'rule: our engine on readings; gateway: the gateway''s own event (Hebei eventsData); video: video analytics';
COMMENT ON COLUMN alarms.channel IS 'independent alarm channel of a point (limit covers high/high_high/low/low_low/digital_fault); at most one open episode per point and channel';
COMMENT ON COLUMN alarms.kind IS 'current kind; an episode escalates high -> high_high and de-escalates back in place';
COMMENT ON COLUMN alarms.level IS 'current severity: 2 high_high/low_low/fault, 1 high/low/rate, 0 data quality (frozen, out_of_range, offline)';
COMMENT ON COLUMN alarms.max_level IS 'highest level reached in the episode; what the risk score counts';
COMMENT ON COLUMN alarms.reason IS 'engine reason code of the raise (risk_reason_name), or the gateway/video type';
COMMENT ON COLUMN alarms.value IS 'sample value at the raise';
COMMENT ON COLUMN alarms.threshold IS 'limit crossed at the raise';
COMMENT ON COLUMN alarms.raised_at IS 'sample time of the raise (not the time we received it); part of the episode key';
COMMENT ON COLUMN alarms.escalated_at IS 'last escalation to a higher level';
COMMENT ON COLUMN alarms.cleared_at IS 'value back to normal (NULL: still active); video alarms are instantaneous and cleared at once';
COMMENT ON COLUMN alarms.clear_reason IS 'engine reason code of the clear';
COMMENT ON COLUMN alarms.state IS 'handling state: active, acknowledged (verified), handled (cause and measures recorded), closed (handled and cleared)';
COMMENT ON COLUMN alarms.ack_deadline IS 'raised_at + alarm_ack_within_s (default 30 min)';
COMMENT ON COLUMN alarms.handle_deadline IS 'raised_at + alarm_handle_within_s (default 2 h)';
COMMENT ON COLUMN alarms.ack_overdue IS 'set once by the worker when not acknowledged by ack_deadline; counts in H';
COMMENT ON COLUMN alarms.handle_overdue IS 'set once by the worker when not handled by handle_deadline; counts in H';
COMMENT ON COLUMN alarms.acked_by IS 'account that acknowledged';
COMMENT ON COLUMN alarms.ack_verdict IS 'what verification found: real hazard or device fault';
COMMENT ON COLUMN alarms.ack_note IS 'free text of the acknowledgement';
COMMENT ON COLUMN alarms.handled_by IS 'account that recorded the handling';
COMMENT ON COLUMN alarms.cause_category IS 'process abnormal, equipment fault, sensor fault, false alarm or other';
COMMENT ON COLUMN alarms.measures IS 'measures taken (处置措施)';
COMMENT ON COLUMN alarms.closed_at IS 'when the alarm was closed: handled and value back to normal (the later of the two)';
COMMENT ON COLUMN alarms.closed_by IS 'account that closed it; NULL when the clear closed a handled alarm automatically';
COMMENT ON COLUMN alarms.camera_code IS 'video alarms: the camera';
COMMENT ON COLUMN alarms.video_alarm_id IS 'video alarms: the stored snapshot row';
COMMENT ON COLUMN alarms.created_at IS 'when we stored the raise (latency = created_at - raised_at)';
-- episode keys: a replayed batch can never create a second episode
CREATE UNIQUE INDEX alarms_episode_idx ON alarms (point_id, channel, raised_at) WHERE point_id IS NOT NULL;
CREATE UNIQUE INDEX alarms_open_idx ON alarms (point_id, channel) WHERE point_id IS NOT NULL AND cleared_at IS NULL;
CREATE UNIQUE INDEX alarms_video_idx ON alarms (video_alarm_id) WHERE video_alarm_id IS NOT NULL;
CREATE INDEX alarms_enterprise_idx ON alarms (enterprise_id, raised_at DESC);
CREATE INDEX alarms_unfinished_idx ON alarms (ack_deadline) WHERE state IN ('active', 'acknowledged');

CREATE TABLE alarm_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id       bigint NOT NULL REFERENCES alarms (id),
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    at             timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    action         text NOT NULL CHECK (action IN ('raise', 'escalate', 'deescalate', 'clear', 'acknowledge', 'handle',
                                                   'close', 'ack_overdue', 'handle_overdue', 'comment')),
    kind           text,
    level          smallint CHECK (level BETWEEN 0 AND 2),
    value          double precision,
    threshold      double precision,
    reason         text NOT NULL DEFAULT '',
    actor_id       bigint REFERENCES accounts (id),
    actor          text NOT NULL DEFAULT 'system',
    note           text NOT NULL DEFAULT '' CHECK (length(note) <= 4000)
);
COMMENT ON TABLE alarm_events IS 'every state change of an alarm with who, when and why; append-only';
COMMENT ON COLUMN alarm_events.at IS 'when it happened (sample time for engine transitions, request time for people)';
COMMENT ON COLUMN alarm_events.recorded_at IS 'when it was stored';
COMMENT ON COLUMN alarm_events.action IS 'the change';
COMMENT ON COLUMN alarm_events.kind IS 'alarm kind after the change';
COMMENT ON COLUMN alarm_events.level IS 'alarm level after the change';
COMMENT ON COLUMN alarm_events.value IS 'sample value of an engine transition';
COMMENT ON COLUMN alarm_events.threshold IS 'limit or re-arm point of an engine transition';
COMMENT ON COLUMN alarm_events.reason IS 'why: engine reason code, or the person''s category';
COMMENT ON COLUMN alarm_events.actor_id IS 'account of a person; NULL for the system';
COMMENT ON COLUMN alarm_events.actor IS 'system, worker, or the username';
COMMENT ON COLUMN alarm_events.note IS 'free text';
CREATE INDEX alarm_events_alarm_idx ON alarm_events (alarm_id, id);
CREATE INDEX alarm_events_enterprise_idx ON alarm_events (enterprise_id, at DESC);

-- ---------------------------------------------------------------------------------------
CREATE TABLE cleaning_areas (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    frequency      text NOT NULL CHECK (frequency IN ('per_shift', 'daily', 'weekly')),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (enterprise_id, name),
    UNIQUE (id, enterprise_id)
);
COMMENT ON TABLE cleaning_areas IS 'areas whose dust must be cleaned at a required frequency (粉尘清理区域)';
COMMENT ON COLUMN cleaning_areas.name IS 'e.g. 1号车间地面, 除尘器灰斗';
COMMENT ON COLUMN cleaning_areas.frequency IS 'per_shift (8-hour shifts from 00:00 Beijing time), daily (Beijing date) or weekly (ISO week)';
COMMENT ON COLUMN cleaning_areas.active IS 'inactive areas are kept for history but no longer required';
COMMENT ON COLUMN cleaning_areas.created_at IS 'periods before this are not required';

CREATE TABLE cleaning_checkins (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    area_id        bigint NOT NULL,
    enterprise_id  bigint NOT NULL,
    person         text NOT NULL CHECK (length(person) BETWEEN 1 AND 100),
    account_id     bigint REFERENCES accounts (id),
    checked_at     timestamptz NOT NULL,
    method         text NOT NULL CHECK (method IN ('vacuum', 'wet_wipe', 'sweep', 'other')),
    note           text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    photo          bytea CHECK (photo IS NULL OR octet_length(photo) <= 2097152),
    photo_type     text CHECK (photo_type IN ('image/jpeg', 'image/png')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (area_id, enterprise_id) REFERENCES cleaning_areas (id, enterprise_id),
    CHECK ((photo IS NULL) = (photo_type IS NULL)),
    CHECK (checked_at <= created_at + interval '5 minutes')
);
COMMENT ON TABLE cleaning_checkins IS 'dust-cleaning check-ins (粉尘清理打卡); missed and late periods feed S';
COMMENT ON COLUMN cleaning_checkins.person IS 'who cleaned';
COMMENT ON COLUMN cleaning_checkins.account_id IS 'account that recorded it';
COMMENT ON COLUMN cleaning_checkins.checked_at IS 'when the cleaning was done';
COMMENT ON COLUMN cleaning_checkins.method IS 'vacuum (吸尘), wet wipe (湿式清扫), sweep (no dry compressed-air blowing) or other';
COMMENT ON COLUMN cleaning_checkins.note IS 'free text';
COMMENT ON COLUMN cleaning_checkins.photo IS 'optional photo, at most 2 MB';
COMMENT ON COLUMN cleaning_checkins.photo_type IS 'image/jpeg or image/png';
COMMENT ON COLUMN cleaning_checkins.created_at IS 'when it was recorded; a check-in may not claim to be in the future';
CREATE INDEX cleaning_checkins_area_idx ON cleaning_checkins (area_id, checked_at DESC);
CREATE INDEX cleaning_checkins_enterprise_idx ON cleaning_checkins (enterprise_id, checked_at DESC);

-- ---------------------------------------------------------------------------------------
CREATE TABLE enterprise_profiles (
    enterprise_id       bigint PRIMARY KEY REFERENCES enterprises (id),
    dust_class          text NOT NULL DEFAULT 'other'
                        CHECK (dust_class IN ('metal_al_mg', 'metal_other', 'wood', 'grain', 'plastic', 'other')),
    st_class            text NOT NULL DEFAULT 'unknown' CHECK (st_class IN ('unknown', 'st1', 'st2', 'st3')),
    dust_workers        integer NOT NULL DEFAULT 0 CHECK (dust_workers >= 0),
    multi_storey        boolean NOT NULL DEFAULT false,
    major_hazard_items  smallint[] NOT NULL DEFAULT '{}'
                        CHECK (major_hazard_items <@ ARRAY[1,2,3,4,5,6,7,8,9,10]::smallint[]),
    open_hazards        integer NOT NULL DEFAULT 0 CHECK (open_hazards >= 0),
    video_offline       integer NOT NULL DEFAULT 0 CHECK (video_offline >= 0),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE enterprise_profiles IS 'risk-archive inputs the enterprises table lacks; a side table so the archive owner''s table stays untouched. Missing row = defaults (other dust, St unknown: scored like St2, so a gap never lowers the risk). Dust-removal set-up, conveying, indoor collectors and dry-collector count come from dust_systems';
COMMENT ON COLUMN enterprise_profiles.dust_class IS 'dust class (粉尘种类)';
COMMENT ON COLUMN enterprise_profiles.st_class IS 'explosion class St1..St3 for grain, plastic and other dust';
COMMENT ON COLUMN enterprise_profiles.dust_workers IS 'dust-exposed workers (涉粉作业人数)';
COMMENT ON COLUMN enterprise_profiles.multi_storey IS 'dust operations in a multi-storey building';
COMMENT ON COLUMN enterprise_profiles.major_hazard_items IS 'open major-accident hazard items (重大事故隐患, domain.md §4.1, 1..10); any forces red';
COMMENT ON COLUMN enterprise_profiles.open_hazards IS 'open ordinary hazards (一般隐患)';
COMMENT ON COLUMN enterprise_profiles.video_offline IS 'video channels currently offline (until a video-health feed exists, maintained by the API)';
COMMENT ON COLUMN enterprise_profiles.updated_at IS 'last change';

CREATE TABLE risk_scores (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id   bigint NOT NULL REFERENCES enterprises (id),
    computed_at     timestamptz NOT NULL,
    model_version   text NOT NULL CHECK (length(model_version) BETWEEN 1 AND 63),
    r               numeric(5, 2) NOT NULL CHECK (r BETWEEN 0 AND 100),
    i               double precision NOT NULL CHECK (i >= 0),
    a               double precision NOT NULL CHECK (a BETWEEN 0 AND 1),
    h               double precision NOT NULL CHECK (h BETWEEN 0 AND 1),
    s               double precision NOT NULL CHECK (s BETWEEN 0 AND 1),
    grade           text NOT NULL CHECK (grade IN ('blue', 'yellow', 'orange', 'red')),
    grade_by_score  text NOT NULL CHECK (grade_by_score IN ('blue', 'yellow', 'orange', 'red')),
    override        boolean NOT NULL,
    override_reason text,
    rules           jsonb NOT NULL CHECK (jsonb_typeof(rules) = 'array'),
    inputs          jsonb NOT NULL CHECK (jsonb_typeof(inputs) = 'object'),
    trigger         text NOT NULL CHECK (trigger IN ('change', 'periodic', 'manual')),
    CHECK (override = (override_reason IS NOT NULL))
);
COMMENT ON TABLE risk_scores IS 'history of enterprise risk scores; append-only; inputs make every score recomputable under another model (backtest)';
COMMENT ON COLUMN risk_scores.computed_at IS 'the engine''s now';
COMMENT ON COLUMN risk_scores.model_version IS 'version of the risk model file that produced the score';
COMMENT ON COLUMN risk_scores.r IS 'composite score R = min(100, I x (1 + wA A + wH H + wS S)), rounded to 0.01';
COMMENT ON COLUMN risk_scores.i IS 'inherent risk I in points';
COMMENT ON COLUMN risk_scores.a IS 'alarm factor A in 0..1';
COMMENT ON COLUMN risk_scores.h IS 'handling factor H in 0..1';
COMMENT ON COLUMN risk_scores.s IS 'on-site management factor S in 0..1';
COMMENT ON COLUMN risk_scores.grade IS 'final grade after overrides';
COMMENT ON COLUMN risk_scores.grade_by_score IS 'what R alone would give';
COMMENT ON COLUMN risk_scores.override IS 'an override forced red';
COMMENT ON COLUMN risk_scores.override_reason IS 'code of the first override rule';
COMMENT ON COLUMN risk_scores.rules IS 'fired rules: [{code, description_key, part, contribution, system_id, item}] — why the grade is what it is';
COMMENT ON COLUMN risk_scores.inputs IS 'the engine''s inputs (archive and dynamic summary) as used';
COMMENT ON COLUMN risk_scores.trigger IS 'change (alarm, check-in, profile), periodic (hourly) or manual';
CREATE INDEX risk_scores_enterprise_idx ON risk_scores (enterprise_id, computed_at DESC);
CREATE INDEX risk_scores_time_idx ON risk_scores (computed_at);

CREATE TABLE enterprise_risk (
    enterprise_id   bigint PRIMARY KEY REFERENCES enterprises (id),
    score_id        bigint NOT NULL REFERENCES risk_scores (id),
    computed_at     timestamptz NOT NULL,
    r               numeric(5, 2) NOT NULL,
    grade           text NOT NULL CHECK (grade IN ('blue', 'yellow', 'orange', 'red')),
    override        boolean NOT NULL,
    model_version   text NOT NULL
);
COMMENT ON TABLE enterprise_risk IS 'current risk per enterprise: the latest risk_scores row, kept for cheap ranking and distribution queries';
COMMENT ON COLUMN enterprise_risk.score_id IS 'the latest score (breakdown and rules there)';
COMMENT ON COLUMN enterprise_risk.computed_at IS 'copy of the score''s time';
COMMENT ON COLUMN enterprise_risk.r IS 'copy of the score';
COMMENT ON COLUMN enterprise_risk.grade IS 'copy of the grade';
COMMENT ON COLUMN enterprise_risk.override IS 'copy of the override flag';
COMMENT ON COLUMN enterprise_risk.model_version IS 'copy of the model version';
CREATE INDEX enterprise_risk_grade_idx ON enterprise_risk (grade, r DESC);

CREATE TABLE risk_recompute_requests (
    enterprise_id  bigint PRIMARY KEY REFERENCES enterprises (id),
    requested_at   timestamptz NOT NULL DEFAULT now(),
    reason         text NOT NULL DEFAULT ''
);
COMMENT ON TABLE risk_recompute_requests IS 'enterprises whose inputs changed (alarm transition, check-in, handling, profile); the worker takes and deletes them';
COMMENT ON COLUMN risk_recompute_requests.requested_at IS 'first request since the last recompute';
COMMENT ON COLUMN risk_recompute_requests.reason IS 'what changed, for logs';

-- ---------------------------------------------------------------------------------------
CREATE TABLE warnings (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id       bigint NOT NULL REFERENCES enterprises (id),
    cause               text NOT NULL CHECK (cause ~ '^(grade|O\.[A-Z_.]+)$'),
    grade               text NOT NULL CHECK (grade IN ('blue', 'yellow', 'orange', 'red')),
    score_id            bigint NOT NULL REFERENCES risk_scores (id),
    issued_at           timestamptz NOT NULL,
    sign_by             timestamptz NOT NULL,
    clear_by            timestamptz NOT NULL,
    supervisor          text NOT NULL CHECK (supervisor IN ('enterprise', 'street', 'district', 'city')),
    current_level       text NOT NULL CHECK (current_level IN ('enterprise', 'street', 'district', 'city')),
    inform_city         boolean NOT NULL DEFAULT false,
    status              text NOT NULL DEFAULT 'issued'
                        CHECK (status IN ('issued', 'signed', 'feedback', 'clearance_requested', 'cleared', 'returned')),
    signed_at           timestamptz,
    signed_by           bigint REFERENCES accounts (id),
    feedback_at         timestamptz,
    feedback            text NOT NULL DEFAULT '' CHECK (length(feedback) <= 4000),
    clear_requested_at  timestamptz,
    cleared_at          timestamptz,
    cleared_by          bigint REFERENCES accounts (id),
    escalations_done    integer NOT NULL DEFAULT 0 CHECK (escalations_done >= 0),
    next_check_at       timestamptz,
    CHECK (sign_by >= issued_at AND clear_by >= sign_by),
    CHECK (status = 'issued' OR signed_at IS NOT NULL),
    CHECK (status <> 'clearance_requested' OR clear_requested_at IS NOT NULL),
    CHECK ((status = 'cleared') = (cleared_at IS NOT NULL))
);
COMMENT ON TABLE warnings IS 'early warnings (预警): issued when the grade rises to yellow+ or an override fires; issued -> signed -> feedback -> clearance_requested -> cleared | returned';
COMMENT ON COLUMN warnings.cause IS 'grade (the grade rose) or the override rule code (e.g. O.MAJOR_HAZARD); at most one open warning per enterprise and cause';
COMMENT ON COLUMN warnings.grade IS 'grade at issue; picks the deadlines';
COMMENT ON COLUMN warnings.score_id IS 'the score that caused it (its breakdown explains the warning)';
COMMENT ON COLUMN warnings.issued_at IS 'issue time';
COMMENT ON COLUMN warnings.sign_by IS 'sign (签收) deadline, inclusive';
COMMENT ON COLUMN warnings.clear_by IS 'clearance-request deadline, inclusive';
COMMENT ON COLUMN warnings.supervisor IS 'supervising level that reviews clearance at issue';
COMMENT ON COLUMN warnings.current_level IS 'supervising level after escalations';
COMMENT ON COLUMN warnings.inform_city IS 'the city is informed (red)';
COMMENT ON COLUMN warnings.status IS 'issued, signed (签收), feedback (处置反馈), clearance_requested (申请消警), cleared (消警), returned (sent back)';
COMMENT ON COLUMN warnings.signed_at IS 'when the enterprise signed';
COMMENT ON COLUMN warnings.signed_by IS 'who signed';
COMMENT ON COLUMN warnings.feedback_at IS 'last handling feedback';
COMMENT ON COLUMN warnings.feedback IS 'handling feedback text';
COMMENT ON COLUMN warnings.clear_requested_at IS 'pending clearance request (stops the clear clock)';
COMMENT ON COLUMN warnings.cleared_at IS 'approved by the supervising level';
COMMENT ON COLUMN warnings.cleared_by IS 'who approved';
COMMENT ON COLUMN warnings.escalations_done IS 'escalation steps applied by the worker; each step exactly once';
COMMENT ON COLUMN warnings.next_check_at IS 'when the worker looks at the deadlines again (NULL: never); anyone changing status sets it to now()';
CREATE UNIQUE INDEX warnings_open_idx ON warnings (enterprise_id, cause) WHERE status <> 'cleared';
CREATE INDEX warnings_check_idx ON warnings (next_check_at) WHERE status <> 'cleared';
CREATE INDEX warnings_enterprise_idx ON warnings (enterprise_id, issued_at DESC);

CREATE TABLE warning_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    warning_id     bigint NOT NULL REFERENCES warnings (id),
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    at             timestamptz NOT NULL DEFAULT now(),
    action         text NOT NULL CHECK (action IN ('issue', 'sign', 'feedback', 'request_clearance', 'approve', 'return',
                                                   'escalate', 'comment')),
    from_status    text,
    to_status      text NOT NULL,
    step           integer CHECK (step >= 1),
    level          text CHECK (level IN ('enterprise', 'street', 'district', 'city')),
    actor_id       bigint REFERENCES accounts (id),
    actor          text NOT NULL DEFAULT 'system',
    note           text NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
    CHECK ((action = 'escalate') = (step IS NOT NULL))
);
COMMENT ON TABLE warning_events IS 'lifecycle and escalation history of warnings with who, when and why; append-only';
COMMENT ON COLUMN warning_events.action IS 'the change';
COMMENT ON COLUMN warning_events.from_status IS 'status before';
COMMENT ON COLUMN warning_events.to_status IS 'status after';
COMMENT ON COLUMN warning_events.step IS 'escalation step (1 = first)';
COMMENT ON COLUMN warning_events.level IS 'escalation target level / supervising level';
COMMENT ON COLUMN warning_events.actor_id IS 'account of a person; NULL for the system';
COMMENT ON COLUMN warning_events.actor IS 'system, worker, or the username';
COMMENT ON COLUMN warning_events.note IS 'why';
-- the second wall behind the worker's advisory lock: one event per escalation step
CREATE UNIQUE INDEX warning_events_step_idx ON warning_events (warning_id, step) WHERE action = 'escalate';
CREATE INDEX warning_events_warning_idx ON warning_events (warning_id, id);

CREATE TABLE supervisions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    warning_id     bigint NOT NULL REFERENCES warnings (id),
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    step           integer NOT NULL CHECK (step >= 1),
    level          text NOT NULL CHECK (level IN ('street', 'district', 'city')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_at      timestamptz,
    note           text NOT NULL DEFAULT '',
    UNIQUE (warning_id, step),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
COMMENT ON TABLE supervisions IS 'supervision orders (督办) created when an overdue warning escalates';
COMMENT ON COLUMN supervisions.step IS 'the escalation step that created it';
COMMENT ON COLUMN supervisions.level IS 'the supervising tier that issues the order';
COMMENT ON COLUMN supervisions.status IS 'open until the supervising tier closes it';
COMMENT ON COLUMN supervisions.closed_at IS 'when closed';
COMMENT ON COLUMN supervisions.note IS 'free text';

CREATE TABLE enforcement_referrals (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    warning_id     bigint NOT NULL REFERENCES warnings (id),
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    step           integer NOT NULL CHECK (step >= 1),
    created_at     timestamptz NOT NULL DEFAULT now(),
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'closed')),
    note           text NOT NULL DEFAULT '',
    UNIQUE (warning_id, step)
);
COMMENT ON TABLE enforcement_referrals IS 'referrals to enforcement (执法) when a red warning is overdue';
COMMENT ON COLUMN enforcement_referrals.step IS 'the escalation step that created it';
COMMENT ON COLUMN enforcement_referrals.status IS 'open, accepted by the enforcement team, closed';
COMMENT ON COLUMN enforcement_referrals.note IS 'free text';

CREATE TABLE public_notices (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    warning_id     bigint REFERENCES warnings (id),
    region_id      bigint NOT NULL REFERENCES regions (id),
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body           text NOT NULL DEFAULT '' CHECK (length(body) <= 20000),
    created_by     bigint REFERENCES accounts (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz
);
COMMENT ON TABLE public_notices IS 'public notices (通报) a district or the city issues about an enterprise';
COMMENT ON COLUMN public_notices.warning_id IS 'the warning it concerns, if any';
COMMENT ON COLUMN public_notices.region_id IS 'issuing district or city';
COMMENT ON COLUMN public_notices.title IS 'title';
COMMENT ON COLUMN public_notices.body IS 'text';
COMMENT ON COLUMN public_notices.created_by IS 'author';
COMMENT ON COLUMN public_notices.published_at IS 'NULL while a draft';

-- ---------------------------------------------------------------------------------------
CREATE TABLE webhook_subscriptions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope_kind     text NOT NULL CHECK (scope_kind IN ('city', 'district', 'street', 'enterprise')),
    scope_id       bigint NOT NULL,
    url            text NOT NULL CHECK (url ~ '^https?://[^\s]+$' AND length(url) <= 2000),
    secret         bytea NOT NULL CHECK (octet_length(secret) BETWEEN 16 AND 64),
    events         text[] NOT NULL DEFAULT '{warning}' CHECK (events <@ ARRAY['warning', 'alarm', 'risk']),
    enabled        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE webhook_subscriptions IS 'where notifications of a scope go (SMS/app gateways plug in here); one row per URL';
COMMENT ON COLUMN webhook_subscriptions.scope_kind IS 'city, district, street (region id) or enterprise (enterprise id); events of enterprises inside the scope are delivered';
COMMENT ON COLUMN webhook_subscriptions.scope_id IS 'region or enterprise id';
COMMENT ON COLUMN webhook_subscriptions.url IS 'http URL (https delivery is not implemented yet)';
COMMENT ON COLUMN webhook_subscriptions.secret IS 'HMAC-SHA256 key; the X-Dustwatch-Signature header is hex(HMAC(secret, body))';
COMMENT ON COLUMN webhook_subscriptions.events IS 'event families delivered (warning only so far)';
COMMENT ON COLUMN webhook_subscriptions.enabled IS 'disabled subscriptions get nothing';

CREATE TABLE notification_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id  bigint NOT NULL REFERENCES webhook_subscriptions (id),
    enterprise_id    bigint NOT NULL REFERENCES enterprises (id),
    warning_id       bigint REFERENCES warnings (id),
    event            text NOT NULL CHECK (event ~ '^[a-z_]+(:[0-9]+)?$'),
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    last_error       text NOT NULL DEFAULT '',
    UNIQUE (subscription_id, warning_id, event)
);
COMMENT ON TABLE notification_outbox IS 'notifications written in the transaction that caused them and delivered afterwards, at least once; receivers deduplicate by X-Dustwatch-Delivery = warning id + event';
COMMENT ON COLUMN notification_outbox.warning_id IS 'the warning concerned';
COMMENT ON COLUMN notification_outbox.event IS 'issue, escalate:<step>, sign, approve ... (the dedup key with warning_id)';
COMMENT ON COLUMN notification_outbox.payload IS 'the JSON body posted';
COMMENT ON COLUMN notification_outbox.attempts IS 'delivery attempts so far';
COMMENT ON COLUMN notification_outbox.next_attempt_at IS 'earliest next attempt (exponential backoff)';
COMMENT ON COLUMN notification_outbox.delivered_at IS 'NULL until a 2xx answer';
COMMENT ON COLUMN notification_outbox.last_error IS 'why the last attempt failed';
CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- ---------------------------------------------------------------------------------------
-- row-level security: the same convention as 0003
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['point_rule_state', 'alarms', 'alarm_events', 'cleaning_areas', 'cleaning_checkins',
                             'enterprise_profiles', 'risk_scores', 'enterprise_risk', 'risk_recompute_requests',
                             'warnings', 'warning_events', 'supervisions', 'enforcement_referrals',
                             'public_notices', 'notification_outbox'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY scope ON %I USING (dw_visible_enterprise(enterprise_id)) '
                       'WITH CHECK (dw_visible_enterprise(enterprise_id))', t);
    END LOOP;
END
$$;
-- subscriptions belong to a scope, not an enterprise: visible to the system, the city, and
-- the exact scope that owns them
ALTER TABLE webhook_subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON webhook_subscriptions
    USING (dw_scope_kind() IN ('system', 'city') OR (dw_scope_kind() = scope_kind AND dw_scope_id() = scope_id))
    WITH CHECK (dw_scope_kind() IN ('system', 'city') OR (dw_scope_kind() = scope_kind AND dw_scope_id() = scope_id));

GRANT SELECT, INSERT, UPDATE ON point_rule_state, alarms, cleaning_areas, enterprise_profiles, enterprise_risk,
    warnings, supervisions, enforcement_referrals, public_notices, webhook_subscriptions, notification_outbox
    TO dustwatch_app;
GRANT SELECT, INSERT ON alarm_events, cleaning_checkins, risk_scores, warning_events TO dustwatch_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON risk_recompute_requests TO dustwatch_app;
GRANT DELETE ON webhook_subscriptions TO dustwatch_app;
