-- 0011: the enterprise's monitoring assets become manageable through the
-- REST API (api/assets.c, api/devices.c, api/credentials.c): cameras get a
-- table of their own, and the application role gets the few rights that
-- CRUD on systems, points, cameras, gateways and ingest credentials needs.
--
-- Deleting never loses stored data: the API refuses (409) to delete a point
-- that has readings, latest values, gateway events or alarms, a system that
-- still has points or cameras, or a camera that has video alarms; those are
-- disabled instead.  Ingest credentials are revoked (revoked_at), never
-- deleted, so the audit trail can always name what a gateway used.

CREATE TABLE cameras (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    code           text NOT NULL CHECK (length(code) BETWEEN 1 AND 64 AND code !~ '[[:cntrl:][:space:]]'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    system_id      bigint,
    location       text NOT NULL DEFAULT '' CHECK (length(location) <= 200),
    stream_url     text CHECK (stream_url IS NULL OR (length(stream_url) <= 500
                               AND stream_url ~ '^(rtsp|rtmp|https?)://[^[:space:][:cntrl:]]+$')),
    enabled        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (enterprise_id, code),
    FOREIGN KEY (system_id, enterprise_id) REFERENCES dust_systems (id, enterprise_id)
);
COMMENT ON TABLE cameras IS 'video cameras of an enterprise (视频监控点); video alarms name them by code';
COMMENT ON COLUMN cameras.enterprise_id IS 'the enterprise the camera belongs to; never changes';
COMMENT ON COLUMN cameras.code IS 'what gateways send as video_alarms.camera_code (Hebei videoCode); unique per enterprise and immutable, because past video alarms are keyed by it';
COMMENT ON COLUMN cameras.name IS 'display name, e.g. 1号除尘器灰斗';
COMMENT ON COLUMN cameras.system_id IS 'the dust-removal system the camera watches, if any (same enterprise)';
COMMENT ON COLUMN cameras.location IS 'free text: workshop, position';
COMMENT ON COLUMN cameras.stream_url IS 'live stream address (rtsp/rtmp/http/https) if the enterprise shares one; may carry credentials, so only in-scope callers ever see it';
COMMENT ON COLUMN cameras.enabled IS 'false: retired or out of service; kept because its video alarms refer to it';
COMMENT ON COLUMN cameras.created_at IS 'when the camera was registered';
COMMENT ON COLUMN cameras.updated_at IS 'last change through the API';
CREATE INDEX cameras_system_idx ON cameras (system_id, enterprise_id) WHERE system_id IS NOT NULL;

-- the camera list shows each camera's latest video alarm
CREATE INDEX IF NOT EXISTS video_alarms_camera_idx ON video_alarms (enterprise_id, camera_code, occurred_at DESC);

-- the same policy shape as 0010: one hashed sub-plan per query, the
-- enterprises policy decides, internal jobs pass on 'system'
ALTER TABLE cameras ENABLE ROW LEVEL SECURITY;
ALTER TABLE cameras FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON cameras
    USING (current_setting('dw.scope', true) = 'system' OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR enterprise_id IN (SELECT e.id FROM enterprises e));

COMMENT ON COLUMN gateways.enterprise_id IS 'the enterprise whose data the gateway collects';
COMMENT ON COLUMN gateways.code IS 'gateway code (网关编码, Hebei wgbm), unique in the city';
COMMENT ON COLUMN gateways.dialect IS 'which ingest dialect the gateway speaks: native, hebei or mem';
COMMENT ON COLUMN gateways.last_seen_at IS 'last time the gateway was heard from';
COMMENT ON COLUMN ingest_credentials.label IS 'what the issuer wrote to recognise the credential, e.g. the gateway';
COMMENT ON COLUMN ingest_credentials.revoked_at IS 'set on revocation; the ingest listener looks credentials up per request, so it refuses a revoked one at once';

GRANT SELECT, INSERT, UPDATE, DELETE ON cameras TO dustwatch_app;
-- a point created by mistake may be deleted while it has no data; the
-- worker may already have started its (empty) alarm-rule state
GRANT DELETE ON point_rule_state TO dustwatch_app;
