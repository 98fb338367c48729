-- 0095: upward forwarding (issue 18): a district or city instance forwards what it
-- acknowledged to upstream platforms (the city, the province, the ministry) in the
-- Hebei V1.1 or MEM dialect.
--
-- What to send is found through forward_outbox: one row per insert statement and
-- enterprise into readings, gateway_events or video_alarms, written by statement
-- triggers in the same transaction as the data (the keys of the rows, not a copy:
-- one outbox row per ingest batch, not per reading).  Each row carries the inserting
-- transaction's id; a target's watermark is a position (xid, id) in that order, and the
-- forwarder only reads rows whose transaction is older than every transaction still
-- running (pg_snapshot_xmin), so a row can never appear behind the watermark after
-- the forwarder moved past it.  Nothing is written while no target exists.
-- Numbers 0095-0104 were assigned to this branch.

CREATE TABLE forward_targets (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    url            text NOT NULL CHECK (url ~ '^https?://[^[:space:]]+$' AND length(url) <= 500),
    dialect        text NOT NULL CHECK (dialect IN ('hebei', 'mem')),
    appid          text CHECK (appid IS NULL OR appid ~ '^[A-Za-z0-9._-]{1,64}$'),
    sealed_keys    bytea NOT NULL CHECK (octet_length(sealed_keys) BETWEEN 41 AND 200),
    owner_district bigint REFERENCES regions (id),
    district_ids   bigint[] NOT NULL DEFAULT '{}',
    enterprise_ids bigint[] NOT NULL DEFAULT '{}',
    kinds          text[] NOT NULL DEFAULT '{readings,events,videos}'
                   CHECK (kinds <@ ARRAY['readings', 'events', 'videos'] AND cardinality(kinds) >= 1),
    rate_per_s     integer NOT NULL DEFAULT 20 CHECK (rate_per_s BETWEEN 1 AND 1000),
    batch_max      integer NOT NULL DEFAULT 500 CHECK (batch_max BETWEEN 1 AND 5000),
    enabled        boolean NOT NULL DEFAULT true,
    watermark_xid  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    watermark_id   bigint NOT NULL DEFAULT 0,
    last_ok_at     timestamptz,
    last_error     text CHECK (length(last_error) <= 1000),
    last_error_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((dialect = 'mem') = (appid IS NOT NULL))
);
COMMENT ON TABLE forward_targets IS 'upstream platforms this instance forwards readings, gateway events and video alarms to (issue 18)';
COMMENT ON COLUMN forward_targets.url IS 'base URL: hebei .../rabbitmqfcsb (the forwarder appends /api/rtsData, /api/eventsData, /api/videosData), mem .../mem/v1 (appends /readings, /events, /videos)';
COMMENT ON COLUMN forward_targets.dialect IS 'hebei: Hebei V1.1, DES-CBC; mem: MEM national envelope, SM4-CBC, our format v1 inside';
COMMENT ON COLUMN forward_targets.appid IS 'mem: the appid the upstream issued';
COMMENT ON COLUMN forward_targets.sealed_keys IS 'the credentials (hebei: DES key and IV; mem: SM4 key, IV and appsecret) sealed with XChaCha20-Poly1305 under the master key''s SRV_SECRET_FWD_SEAL subkey (server/forward/fwd_keys.h); never plaintext';
COMMENT ON COLUMN forward_targets.owner_district IS 'the district whose administrator created it (NULL: the city); such a target forwards only that district';
COMMENT ON COLUMN forward_targets.district_ids IS 'forward only enterprises of these districts (empty: every district)';
COMMENT ON COLUMN forward_targets.enterprise_ids IS 'forward only these enterprises (empty: every enterprise the districts hold)';
COMMENT ON COLUMN forward_targets.kinds IS 'what to forward: readings, events (gateway alarm raise/clear), videos (video alarms with their snapshot)';
COMMENT ON COLUMN forward_targets.rate_per_s IS 'at most this many requests a second to the upstream';
COMMENT ON COLUMN forward_targets.batch_max IS 'at most this many items in one request (video alarms: one a request, each has its snapshot)';
COMMENT ON COLUMN forward_targets.enabled IS 'false: paused; the outbox is kept from the watermark on, so it catches up when enabled again';
COMMENT ON COLUMN forward_targets.watermark_xid IS 'with watermark_id: the last forward_outbox position (xid, id) delivered (acknowledged or dead-lettered); starts at the creating transaction';
COMMENT ON COLUMN forward_targets.watermark_id IS 'see watermark_xid';
COMMENT ON COLUMN forward_targets.last_ok_at IS 'when the upstream last answered a request (acknowledged or refused)';
COMMENT ON COLUMN forward_targets.last_error IS 'the latest transport failure (connection, timeout, 5xx, 429): retried with backoff';

CREATE TABLE forward_codes (
    target_id     bigint NOT NULL REFERENCES forward_targets (id) ON DELETE CASCADE,
    object        text NOT NULL CHECK (object IN ('enterprise', 'gateway', 'point')),
    local_code    text NOT NULL CHECK (length(local_code) BETWEEN 1 AND 64),
    upstream_code text NOT NULL CHECK (upstream_code ~ '^[A-Za-z0-9._-]{1,64}$'),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_id, object, local_code),
    UNIQUE (target_id, object, upstream_code)
);
COMMENT ON TABLE forward_codes IS 'per target: dustwatch codes the upstream knows by another code; an unlisted code is sent as it is';
COMMENT ON COLUMN forward_codes.object IS 'enterprise (qybm), gateway (wgbm: sent with the enterprise''s batches, its most recently heard mapped gateway), point (tnm / point)';
COMMENT ON COLUMN forward_codes.local_code IS 'enterprises.code, gateways.code or points.code (checked by the API)';
COMMENT ON COLUMN forward_codes.upstream_code IS 'the code the upstream registered; unique per target and object';

CREATE TABLE forward_outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    enterprise_id bigint NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('readings', 'events', 'videos')),
    point_ids     bigint[],
    ats           timestamptz[],
    ref_ids       bigint[],
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'readings') = (point_ids IS NOT NULL AND ats IS NOT NULL AND ref_ids IS NULL))
);
CREATE INDEX forward_outbox_order_idx ON forward_outbox (xid, id);
COMMENT ON TABLE forward_outbox IS 'what was committed, in transaction order: one row per insert statement and enterprise into readings, gateway_events, video_alarms (statement triggers, same transaction); deleted once every target''s watermark passed it';
COMMENT ON COLUMN forward_outbox.xid IS 'the inserting transaction: the forwarder reads only rows of transactions older than every running one, in (xid, id) order';
COMMENT ON COLUMN forward_outbox.point_ids IS 'readings: the keys (point_id, collected_at) of the inserted rows, with ats';
COMMENT ON COLUMN forward_outbox.ats IS 'readings: see point_ids';
COMMENT ON COLUMN forward_outbox.ref_ids IS 'events: gateway_events.id; videos: video_alarms.id';

CREATE TABLE forward_dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_id     bigint NOT NULL REFERENCES forward_targets (id) ON DELETE CASCADE,
    enterprise_id bigint NOT NULL REFERENCES enterprises (id),
    kind          text NOT NULL CHECK (kind IN ('readings', 'events', 'videos')),
    items         integer NOT NULL CHECK (items > 0),
    payload       jsonb NOT NULL,
    http_status   integer,
    upstream_code integer,
    reason        text NOT NULL CHECK (length(reason) <= 1000),
    created_at    timestamptz NOT NULL DEFAULT now(),
    resend_requested_at timestamptz,
    resends       integer NOT NULL DEFAULT 0,
    resolved_at   timestamptz
);
CREATE INDEX forward_dead_letters_target_idx ON forward_dead_letters (target_id, id);
CREATE INDEX forward_dead_letters_resend_idx ON forward_dead_letters (resend_requested_at)
    WHERE resend_requested_at IS NOT NULL AND resolved_at IS NULL;
COMMENT ON TABLE forward_dead_letters IS 'requests an upstream refused (answer code not 200, or a 4xx): kept with the reason, resent on request';
COMMENT ON COLUMN forward_dead_letters.payload IS 'the request before encryption: {"path", "qybm", "wgbm", "inner", "img"}: resent re-encrypted with the target''s current keys';
COMMENT ON COLUMN forward_dead_letters.upstream_code IS 'the code field of the upstream''s answer, when it had one';
COMMENT ON COLUMN forward_dead_letters.resend_requested_at IS 'set by the resend action; the forwarder sends it again and clears it';
COMMENT ON COLUMN forward_dead_letters.resolved_at IS 'when a resend was acknowledged';

CREATE TABLE forward_daily (
    target_id bigint NOT NULL REFERENCES forward_targets (id) ON DELETE CASCADE,
    day       date NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('readings', 'events', 'videos')),
    sent      bigint NOT NULL DEFAULT 0,
    acked     bigint NOT NULL DEFAULT 0,
    refused   bigint NOT NULL DEFAULT 0,
    resent_acked bigint NOT NULL DEFAULT 0,
    requests  bigint NOT NULL DEFAULT 0,
    failures  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (target_id, day, kind)
);
COMMENT ON TABLE forward_daily IS 'reconciliation per target, UTC day of sending and kind: items sent once each (retries not counted again), acknowledged, refused (dead-lettered)';
COMMENT ON COLUMN forward_daily.sent IS 'items forwarded (each once, when its request was answered): acked + refused';
COMMENT ON COLUMN forward_daily.resent_acked IS 'dead-lettered items acknowledged on a resend';
COMMENT ON COLUMN forward_daily.requests IS 'requests answered (retries of a failed request included)';
COMMENT ON COLUMN forward_daily.failures IS 'requests that failed in transport (no answer, 5xx, 429) and were retried';

-- the statement triggers: one outbox row per statement and enterprise, only while a target exists
CREATE FUNCTION dw_forward_outbox_readings() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM forward_targets) THEN
        INSERT INTO forward_outbox (enterprise_id, kind, point_ids, ats)
        SELECT n.enterprise_id, 'readings', array_agg(n.point_id ORDER BY n.collected_at, n.point_id),
               array_agg(n.collected_at ORDER BY n.collected_at, n.point_id)
        FROM new_rows n GROUP BY n.enterprise_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION dw_forward_outbox_readings() IS 'statement trigger: the inserted readings'' keys into forward_outbox, one row per enterprise';

CREATE FUNCTION dw_forward_outbox_refs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM forward_targets) THEN
        INSERT INTO forward_outbox (enterprise_id, kind, ref_ids)
        SELECT n.enterprise_id, TG_ARGV[0], array_agg(n.id ORDER BY n.id)
        FROM new_rows n GROUP BY n.enterprise_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION dw_forward_outbox_refs() IS 'statement trigger: the inserted gateway events'' or video alarms'' ids into forward_outbox (kind: the trigger argument)';

CREATE TRIGGER readings_forward_outbox AFTER INSERT ON readings REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dw_forward_outbox_readings();
CREATE TRIGGER gateway_events_forward_outbox AFTER INSERT ON gateway_events REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dw_forward_outbox_refs('events');
CREATE TRIGGER video_alarms_forward_outbox AFTER INSERT ON video_alarms REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dw_forward_outbox_refs('videos');

-- the outbox: written by the triggers (as the owner, whatever the writer's scope), read and
-- pruned by the forwarder (scope system); dead letters per enterprise, as the readings are
ALTER TABLE forward_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE forward_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY write ON forward_outbox FOR INSERT WITH CHECK (true);
CREATE POLICY scope ON forward_outbox FOR SELECT
    USING (current_setting('dw.scope', true) = 'system' OR dw_visible_enterprise(enterprise_id));
CREATE POLICY prune ON forward_outbox FOR DELETE USING (current_setting('dw.scope', true) = 'system');
ALTER TABLE forward_dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE forward_dead_letters FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON forward_dead_letters
    USING (current_setting('dw.scope', true) = 'system' OR dw_visible_enterprise(enterprise_id))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR dw_visible_enterprise(enterprise_id));

-- targets: a district administrator's are its own (the API filters the same way); codes and
-- counts follow their target.  Not forced: the outbox triggers (as the owner) must see every
-- target whatever the scope of the transaction that writes the data.
ALTER TABLE forward_targets ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON forward_targets
    USING ((SELECT dw_scope_kind()) = 'system' OR (SELECT dw_scope_is_city())
           OR ((SELECT dw_scope_kind()) = 'district' AND owner_district = (SELECT dw_scope_id())))
    WITH CHECK ((SELECT dw_scope_kind()) = 'system' OR (SELECT dw_scope_is_city())
           OR ((SELECT dw_scope_kind()) = 'district' AND owner_district = (SELECT dw_scope_id())));
ALTER TABLE forward_codes ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON forward_codes USING (target_id IN (SELECT id FROM forward_targets))
    WITH CHECK (target_id IN (SELECT id FROM forward_targets));
ALTER TABLE forward_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON forward_daily USING (target_id IN (SELECT id FROM forward_targets))
    WITH CHECK (target_id IN (SELECT id FROM forward_targets));

GRANT SELECT, INSERT, UPDATE, DELETE ON forward_targets, forward_codes TO dustwatch_app;
GRANT SELECT, DELETE ON forward_outbox TO dustwatch_app;
GRANT SELECT, INSERT, UPDATE ON forward_dead_letters, forward_daily TO dustwatch_app;
