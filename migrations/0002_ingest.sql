-- 0002: what enterprises send us: dust-removal systems, monitoring points and
-- their limits, readings (partitioned by day), latest values, gateway alarm
-- events and video alarms, idempotency records and ingest credentials.

CREATE TABLE indicator_kinds (
    code         text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,40}$'),
    name_zh      text NOT NULL,
    name_en      text NOT NULL,
    unit         text NOT NULL DEFAULT '',
    value_type   text NOT NULL CHECK (value_type IN ('analog', 'digital')),
    hebei_code   text CHECK (hebei_code ~ '^[0-9]{2}$'),
    description  text NOT NULL DEFAULT ''
);
COMMENT ON TABLE indicator_kinds IS 'catalogue of what a point measures; new kinds are rows, not code';
COMMENT ON COLUMN indicator_kinds.value_type IS 'analog values or digital states (0/1)';
COMMENT ON COLUMN indicator_kinds.hebei_code IS 'two-digit indicator segment used in generated point codes';

INSERT INTO indicator_kinds (code, name_zh, name_en, unit, value_type, hebei_code, description) VALUES
 ('hopper_temp',     '灰斗温度',       'hopper temperature',           '℃',      'analog',  '01', 'dust-collector ash hopper temperature'),
 ('pressure_diff',   '进出口压差',     'inlet/outlet pressure difference', 'Pa', 'analog',  '02', 'across the filter; collapse means a broken bag'),
 ('airlock_fault',   '锁气卸灰故障',   'air-lock valve fault',         '',       'digital', '03', '1 = rotary air-lock / discharge valve fault'),
 ('spark_detected',  '火花探测',       'spark detected',               '',       'digital', '04', '1 = spark detected in the duct'),
 ('fan_running',     '风机运行',       'fan running',                  '',       'digital', '05', '1 = main fan running'),
 ('water_level',     '水位',           'water level',                  'mm',     'analog',  '06', 'wet collector tank level'),
 ('water_flow',      '水流量',         'water flow',                   'm³/h',   'analog',  '07', 'wet collector circulation flow'),
 ('hydrogen_lel',    '氢气浓度',       'hydrogen concentration',       '%LEL',   'analog',  '08', 'wet collectors of Al/Mg dust release hydrogen'),
 ('oxygen',          '氧含量',         'oxygen content',               '%vol',   'analog',  '09', 'inerted systems'),
 ('bearing_temp',    '轴承温度',       'bearing temperature',          '℃',      'analog',  '10', 'fan / motor bearing'),
 ('dust_conc',       '粉尘浓度',       'dust concentration',           'mg/m³',  'analog',  '11', 'in-duct or workshop dust concentration'),
 ('inlet_pressure',  '入口压力',       'inlet pressure',               'Pa',     'analog',  '12', 'negative pressure at the collector inlet'),
 ('power_on',        '设备上电',       'equipment powered',            '',       'digital', '13', '1 = collector powered');

CREATE TABLE dust_systems (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id    bigint NOT NULL REFERENCES enterprises (id),
    code             text NOT NULL CHECK (code ~ '^[0-9A-Za-z_-]{1,32}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    workshop         text NOT NULL DEFAULT '',
    wet              boolean NOT NULL DEFAULT false,
    collector_type   text NOT NULL DEFAULT 'bag'
                     CHECK (collector_type IN ('bag', 'cartridge', 'cyclone', 'settling', 'wet_scrubber', 'water_curtain', 'other')),
    central          boolean NOT NULL DEFAULT true,
    airflow_m3h      integer CHECK (airflow_m3h > 0),
    positive_pressure boolean NOT NULL DEFAULT false,
    indoor           boolean NOT NULL DEFAULT false,
    has_venting      boolean NOT NULL DEFAULT false,
    has_isolation    boolean NOT NULL DEFAULT false,
    has_suppression  boolean NOT NULL DEFAULT false,
    has_inerting     boolean NOT NULL DEFAULT false,
    has_airlock      boolean NOT NULL DEFAULT false,
    has_spark_detection boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (enterprise_id, code),
    UNIQUE (id, enterprise_id)
);
COMMENT ON TABLE dust_systems IS 'dust-removal systems (除尘系统) of an enterprise';
COMMENT ON COLUMN dust_systems.wet IS 'wet (湿式) or dry (干式) collection';
COMMENT ON COLUMN dust_systems.central IS 'central collection (中央集尘) or one collector per work station (工位独立)';
COMMENT ON COLUMN dust_systems.positive_pressure IS 'positive-pressure conveying (正压吹送): riskier than suction';
COMMENT ON COLUMN dust_systems.indoor IS 'collector installed indoors (a dry central collector indoors is a major hazard)';
COMMENT ON COLUMN dust_systems.has_venting IS 'explosion venting (泄爆)';
COMMENT ON COLUMN dust_systems.has_isolation IS 'explosion isolation valve/door (隔爆)';
COMMENT ON COLUMN dust_systems.has_suppression IS 'explosion suppression (抑爆)';
COMMENT ON COLUMN dust_systems.has_inerting IS 'inerting (惰化)';
COMMENT ON COLUMN dust_systems.has_airlock IS 'air-lock discharge valve at the hopper (锁气卸灰)';
COMMENT ON COLUMN dust_systems.has_spark_detection IS 'spark detection and extinguishing (火花探测及自动灭火)';

CREATE TABLE points (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code               text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Za-z_-]{4,40}$'),
    enterprise_id      bigint NOT NULL REFERENCES enterprises (id),
    system_id          bigint,
    kind               text NOT NULL REFERENCES indicator_kinds (code),
    name               text NOT NULL DEFAULT '',
    unit               text NOT NULL DEFAULT '',
    range_min          double precision,
    range_max          double precision,
    param_class        text NOT NULL DEFAULT 'mandatory'
                       CHECK (param_class IN ('mandatory', 'conditional', 'optional')),
    limit_high         double precision,
    limit_high_high    double precision,
    limit_low          double precision,
    limit_low_low      double precision,
    deadband           double precision NOT NULL DEFAULT 0 CHECK (deadband >= 0),
    min_duration_s     integer NOT NULL DEFAULT 0 CHECK (min_duration_s >= 0),
    rate_limit         double precision CHECK (rate_limit > 0),
    rate_window_s      integer NOT NULL DEFAULT 600 CHECK (rate_window_s > 0),
    expected_interval_s integer NOT NULL DEFAULT 60 CHECK (expected_interval_s BETWEEN 1 AND 86400),
    enabled            boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (system_id, enterprise_id) REFERENCES dust_systems (id, enterprise_id),
    CHECK (range_min IS NULL OR range_max IS NULL OR range_min < range_max),
    CHECK (limit_high IS NULL OR limit_high_high IS NULL OR limit_high <= limit_high_high),
    CHECK (limit_low IS NULL OR limit_low_low IS NULL OR limit_low_low <= limit_low),
    CHECK (limit_low IS NULL OR limit_high IS NULL OR limit_low < limit_high)
);
COMMENT ON TABLE points IS 'monitoring points (测点); the code is what gateways send and is immutable once data flows';
COMMENT ON COLUMN points.code IS 'globally unique; Hebei shape: qybm + 2-digit system + 2-digit indicator + 3-digit sequence';
COMMENT ON COLUMN points.system_id IS 'the dust-removal system the point belongs to (must be of the same enterprise)';
COMMENT ON COLUMN points.range_min IS 'physical range of the sensor: values outside are sensor faults, not readings';
COMMENT ON COLUMN points.param_class IS 'mandatory (必选), conditional (条件) or optional (可选) per the national data-collection guide';
COMMENT ON COLUMN points.deadband IS 'an alarm clears only once the value is back inside the limit by this much';
COMMENT ON COLUMN points.min_duration_s IS 'a limit must be exceeded this long before an alarm is raised';
COMMENT ON COLUMN points.rate_limit IS 'rate-of-rise alarm: rise of more than this within rate_window_s';
COMMENT ON COLUMN points.expected_interval_s IS 'how often the gateway uploads; offline after k times this';
CREATE INDEX points_enterprise_idx ON points (enterprise_id);

CREATE TABLE point_latest (
    point_id       bigint PRIMARY KEY REFERENCES points (id),
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    collected_at   timestamptz NOT NULL,
    value          double precision NOT NULL,
    quality        smallint NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE point_latest IS 'newest reading per point; back-filled older readings never move it backwards';
CREATE INDEX point_latest_enterprise_idx ON point_latest (enterprise_id);

CREATE FUNCTION points_code_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.code <> OLD.code AND EXISTS (SELECT FROM point_latest WHERE point_id = OLD.id) THEN
        RAISE EXCEPTION 'point code % cannot change: data has been received under it', OLD.code
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.enterprise_id <> OLD.enterprise_id THEN
        RAISE EXCEPTION 'a point cannot move to another enterprise' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER points_code_immutable BEFORE UPDATE ON points
    FOR EACH ROW EXECUTE FUNCTION points_code_immutable();

CREATE TABLE readings (
    point_id       bigint NOT NULL,
    collected_at   timestamptz NOT NULL,
    value          double precision NOT NULL,
    quality        smallint NOT NULL DEFAULT 0 CHECK (quality BETWEEN 0 AND 2),
    enterprise_id  bigint NOT NULL,
    PRIMARY KEY (point_id, collected_at)
) PARTITION BY RANGE (collected_at);
COMMENT ON TABLE readings IS 'every accepted reading, one partition per UTC day; natural key (point, collected_at)';
COMMENT ON COLUMN readings.quality IS '0 good, 1 suspect, 2 bad (as reported by the gateway)';
COMMENT ON COLUMN readings.enterprise_id IS 'copied from the point so row-level security needs no join';

-- Partitions are created by the server (ahead by the worker, on demand by the
-- ingest writer for back-filled days) through these functions, so the
-- application role needs no DDL rights.
CREATE FUNCTION dw_ensure_readings_partition(day date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    part text := 'readings_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- two writers may race for the same day: serialise on the name
    PERFORM pg_advisory_xact_lock(hashtext(part));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
                   part, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
    RETURN true;
END
$$;
COMMENT ON FUNCTION dw_ensure_readings_partition(date) IS 'creates the daily readings partition for a UTC day if missing';

CREATE FUNCTION dw_drop_readings_partitions_before(cutoff date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'readings'::regclass AND c.relname ~ '^readings_[0-9]{8}$'
               AND to_date(substr(c.relname, 10), 'YYYYMMDD') < cutoff LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION dw_drop_readings_partitions_before(date) IS 'retention: drops daily readings partitions older than cutoff';
REVOKE ALL ON FUNCTION dw_ensure_readings_partition(date), dw_drop_readings_partitions_before(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_ensure_readings_partition(date), dw_drop_readings_partitions_before(date) TO dustwatch_app;

CREATE TABLE gateway_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    point_id       bigint NOT NULL REFERENCES points (id),
    occurred_at    timestamptz NOT NULL,
    level          text NOT NULL CHECK (level IN ('cleared', 'high', 'high_high', 'low', 'low_low', 'fault')),
    value          double precision,
    threshold      double precision,
    content        text NOT NULL DEFAULT '',
    source         text NOT NULL CHECK (source IN ('native', 'hebei', 'mem')),
    received_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (point_id, occurred_at, level)
);
COMMENT ON TABLE gateway_events IS 'alarm and clear events reported by enterprise gateways (Hebei eventsData and ours)';
COMMENT ON COLUMN gateway_events.level IS 'what the gateway says happened; Hebei scd is mapped on ingest';
CREATE INDEX gateway_events_enterprise_idx ON gateway_events (enterprise_id, occurred_at DESC);

CREATE TABLE video_alarms (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    camera_code    text NOT NULL CHECK (length(camera_code) BETWEEN 1 AND 64),
    occurred_at    timestamptz NOT NULL,
    alarm_type     text NOT NULL CHECK (length(alarm_type) BETWEEN 1 AND 64),
    content        text NOT NULL DEFAULT '',
    image          bytea CHECK (image IS NULL OR octet_length(image) <= 512000),
    source         text NOT NULL CHECK (source IN ('native', 'hebei', 'mem')),
    received_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (enterprise_id, camera_code, occurred_at, alarm_type)
);
COMMENT ON TABLE video_alarms IS 'video analytics alarms (smoke/fire, no helmet, ...) with their snapshot';
COMMENT ON COLUMN video_alarms.image IS 'JPEG snapshot as received, at most 500 KB';
CREATE INDEX video_alarms_enterprise_idx ON video_alarms (enterprise_id, occurred_at DESC);

CREATE TABLE ingest_batches (
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    idem_key       text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 255),
    request_hash   bytea NOT NULL CHECK (octet_length(request_hash) = 32),
    status         smallint,
    response       text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL DEFAULT now() + interval '72 hours',
    PRIMARY KEY (enterprise_id, idem_key),
    CHECK (expires_at >= created_at + interval '24 hours')
);
COMMENT ON TABLE ingest_batches IS 'Idempotency-Key records: the first answer to a batch, replayed for retries';
COMMENT ON COLUMN ingest_batches.idem_key IS 'client-chosen key, scoped to the enterprise';
COMMENT ON COLUMN ingest_batches.request_hash IS 'SHA-256 of the body; the same key with another body is refused (422)';
COMMENT ON COLUMN ingest_batches.response IS 'the JSON answered the first time';
CREATE INDEX ingest_batches_expiry_idx ON ingest_batches (expires_at);

CREATE TABLE gateways (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    code           text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Za-z_-]{2,40}$'),
    name           text NOT NULL DEFAULT '',
    dialect        text NOT NULL DEFAULT 'native' CHECK (dialect IN ('native', 'hebei', 'mem')),
    last_seen_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gateways IS 'enterprise data-collection gateways (数采网关); Hebei wgbm';

CREATE TABLE ingest_credentials (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    kind           text NOT NULL CHECK (kind IN ('api_key', 'hebei_des', 'mem_sm4')),
    label          text NOT NULL DEFAULT '',
    key_prefix     text,
    key_hash       bytea UNIQUE CHECK (key_hash IS NULL OR octet_length(key_hash) = 32),
    des_key        bytea CHECK (des_key IS NULL OR octet_length(des_key) = 8),
    appid          text UNIQUE,
    appsecret_hash bytea CHECK (appsecret_hash IS NULL OR octet_length(appsecret_hash) = 32),
    sm4_key        bytea CHECK (sm4_key IS NULL OR octet_length(sm4_key) = 16),
    sm4_iv         bytea CHECK (sm4_iv IS NULL OR octet_length(sm4_iv) = 16),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    CHECK (kind <> 'api_key' OR (key_hash IS NOT NULL AND key_prefix IS NOT NULL)),
    CHECK (kind <> 'hebei_des' OR des_key IS NOT NULL),
    CHECK (kind <> 'mem_sm4' OR (appid IS NOT NULL AND appsecret_hash IS NOT NULL AND sm4_key IS NOT NULL AND sm4_iv IS NOT NULL))
);
COMMENT ON TABLE ingest_credentials IS 'how a gateway proves which enterprise it speaks for';
COMMENT ON COLUMN ingest_credentials.key_prefix IS 'first characters of an API key, to recognise it in lists';
COMMENT ON COLUMN ingest_credentials.key_hash IS 'SHA-256 of the API key (keys are 256-bit random, so a fast hash suffices); the key itself is never stored';
COMMENT ON COLUMN ingest_credentials.des_key IS 'Hebei V1.1 DES key issued to the enterprise; the server must decrypt with it, so it is kept';
COMMENT ON COLUMN ingest_credentials.appsecret_hash IS 'SHA-256 of the MEM appsecret header value';
COMMENT ON COLUMN ingest_credentials.sm4_key IS 'MEM SM4 key for this appid';
CREATE UNIQUE INDEX ingest_credentials_hebei_idx ON ingest_credentials (enterprise_id) WHERE kind = 'hebei_des' AND revoked_at IS NULL;

GRANT SELECT ON indicator_kinds, dust_systems, points, point_latest, gateways, ingest_credentials TO dustwatch_app;
GRANT SELECT, INSERT ON readings, gateway_events, video_alarms TO dustwatch_app;
GRANT SELECT, INSERT, UPDATE ON point_latest, ingest_batches TO dustwatch_app;
GRANT DELETE ON ingest_batches TO dustwatch_app;
GRANT UPDATE (last_seen_at) ON gateways TO dustwatch_app;
